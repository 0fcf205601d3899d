# PhiWall: command-line tools and SDKs reach the internet through the local agent, and
# trust its CA through the system store. Installed by PhiWall's installer; removed by --uninstall.
export http_proxy="http://@PROXY@" https_proxy="http://@PROXY@"
export HTTP_PROXY="http://@PROXY@" HTTPS_PROXY="http://@PROXY@"
export no_proxy="@NO_PROXY@" NO_PROXY="@NO_PROXY@"
export SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
export NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/phiwall-proxy-ca.crt
