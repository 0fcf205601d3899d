/* Test-only stand-in for ucrtbase.dll under Wine 8: Wine 8's ucrtbase leaves the C99 complex
 * functions (crealf, cexp, ...) as stubs that abort when called, and numpy calls crealf at import.
 * Every other export forwards to Wine's own ucrtbase, copied into the prefix as wineucrt.dll
 * (conftest.py generates the forwarders from its export table). Real Windows' ucrtbase has them.
 * MSVC ABI: _Fcomplex (8 bytes) travels in a register, _Dcomplex/_Lcomplex (16 bytes; long
 * double is double) by reference; gcc's ms_abi struct rules match, and long double is spelled
 * double here. Plain textbook formulas: enough for numpy's import and the agent, not a libm. */
typedef struct { float v[2]; } fcomplex;
typedef struct { double v[2]; } dcomplex;

#define IMPORT __declspec(dllimport)
IMPORT double exp(double);
IMPORT double log(double);
IMPORT double sin(double);
IMPORT double cos(double);
IMPORT double sinh(double);
IMPORT double cosh(double);
IMPORT double sqrt(double);
IMPORT double atan2(double, double);
IMPORT double _hypot(double, double);

static dcomplex mk(double re, double im) { dcomplex z = {{re, im}}; return z; }
static dcomplex from_f(fcomplex z) { return mk(z.v[0], z.v[1]); }
static fcomplex to_f(dcomplex z) { fcomplex r = {{(float)z.v[0], (float)z.v[1]}}; return r; }

static double d_abs(dcomplex z) { return _hypot(z.v[0], z.v[1]); }
static double d_arg(dcomplex z) { return atan2(z.v[1], z.v[0]); }
static dcomplex d_exp(dcomplex z) { double e = exp(z.v[0]); return mk(e * cos(z.v[1]), e * sin(z.v[1])); }
static dcomplex d_log(dcomplex z) { return mk(log(d_abs(z)), d_arg(z)); }
static dcomplex d_mul(dcomplex a, dcomplex b) {
    return mk(a.v[0] * b.v[0] - a.v[1] * b.v[1], a.v[0] * b.v[1] + a.v[1] * b.v[0]);
}
static dcomplex d_sqrt(dcomplex z) {
    double re = z.v[0], im = z.v[1], m = d_abs(z), t;
    if (m == 0.0) return mk(0.0, im);
    t = sqrt(((re < 0 ? -re : re) + m) / 2.0);
    if (re >= 0) return mk(t, im / (2.0 * t));
    return mk((im < 0 ? -im : im) / (2.0 * t), im < 0 ? -t : t);
}
static dcomplex d_pow(dcomplex z, dcomplex w) {
    if (z.v[0] == 0.0 && z.v[1] == 0.0) return (w.v[0] == 0.0 && w.v[1] == 0.0) ? mk(1.0, 0.0) : mk(0.0, 0.0);
    return d_exp(d_mul(w, d_log(z)));
}
static dcomplex d_sin(dcomplex z) { return mk(sin(z.v[0]) * cosh(z.v[1]), cos(z.v[0]) * sinh(z.v[1])); }
static dcomplex d_cos(dcomplex z) { return mk(cos(z.v[0]) * cosh(z.v[1]), -sin(z.v[0]) * sinh(z.v[1])); }
static dcomplex d_tan(dcomplex z) {
    double d = cos(2 * z.v[0]) + cosh(2 * z.v[1]);
    return mk(sin(2 * z.v[0]) / d, sinh(2 * z.v[1]) / d);
}
static dcomplex d_sinh(dcomplex z) { return mk(sinh(z.v[0]) * cos(z.v[1]), cosh(z.v[0]) * sin(z.v[1])); }
static dcomplex d_cosh(dcomplex z) { return mk(cosh(z.v[0]) * cos(z.v[1]), sinh(z.v[0]) * sin(z.v[1])); }
static dcomplex d_tanh(dcomplex z) {
    double d = cosh(2 * z.v[0]) + cos(2 * z.v[1]);
    return mk(sinh(2 * z.v[0]) / d, sin(2 * z.v[1]) / d);
}
static dcomplex d_atan(dcomplex z) { /* atan z = i/2 (log(1 - iz) - log(1 + iz)) */
    dcomplex a = d_log(mk(1.0 + z.v[1], -z.v[0])), b = d_log(mk(1.0 - z.v[1], z.v[0]));
    return mk(-(a.v[1] - b.v[1]) / 2.0, (a.v[0] - b.v[0]) / 2.0);
}

#define EXPORT __declspec(dllexport)
/* Each unary complex function in its three precisions. */
#define UNARY(name, impl) \
    EXPORT dcomplex name(dcomplex z) { return impl(z); } \
    EXPORT fcomplex name##f(fcomplex z) { return to_f(impl(from_f(z))); } \
    EXPORT dcomplex name##l(dcomplex z) { return impl(z); }
UNARY(cexp, d_exp)
UNARY(clog, d_log)
UNARY(csqrt, d_sqrt)
UNARY(csin, d_sin)
UNARY(ccos, d_cos)
UNARY(ctan, d_tan)
UNARY(csinh, d_sinh)
UNARY(ccosh, d_cosh)
UNARY(ctanh, d_tanh)
UNARY(catan, d_atan)

#define REAL(name, expr) \
    EXPORT double name(dcomplex z) { return expr; } \
    EXPORT float name##f(fcomplex f) { dcomplex z = from_f(f); return (float)(expr); } \
    EXPORT double name##l(dcomplex z) { return expr; }
REAL(creal, z.v[0])
REAL(cimag, z.v[1])
REAL(cabs, d_abs(z))
REAL(carg, d_arg(z))

EXPORT dcomplex cpow(dcomplex z, dcomplex w) { return d_pow(z, w); }
EXPORT fcomplex cpowf(fcomplex z, fcomplex w) { return to_f(d_pow(from_f(z), from_f(w))); }
EXPORT dcomplex cpowl(dcomplex z, dcomplex w) { return d_pow(z, w); }
