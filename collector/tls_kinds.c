// SPDX-License-Identifier: MIT
#include "collector/tls_kinds.h"

static const char *const TLS_MODE_NAMES[TLS_MODES] = {
	[TLS_MODE_OFF] = "off", [TLS_MODE_CALLS] = "calls", [TLS_MODE_KEYS] = "keys",
	[TLS_MODE_AUTO] = "auto", [TLS_MODE_KEYS_CALLS] = "keys+calls", [TLS_MODE_NONE] = "none",
	[TLS_MODE_KEYLOG] = "keylog",
};

const char *tls_mode_name(enum tls_mode m)
{
	return (unsigned)m < TLS_MODES ? TLS_MODE_NAMES[m] : "?";
}
