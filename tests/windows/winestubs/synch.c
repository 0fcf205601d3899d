/* Forwarders only (synch.def). */
