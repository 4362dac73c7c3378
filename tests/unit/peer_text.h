/* SPDX-License-Identifier: MIT */
/* Tests name peers as text: "10.0.0.3", "10.0.0.3:5000", "[2001:db8::1]:443". */
#ifndef L7TOP_TEST_PEER_TEXT_H
#define L7TOP_TEST_PEER_TEXT_H

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/snapshot.h"

static inline struct peer_addr peer_from(const char *text)
{
	struct peer_addr p = { 0 };
	char host[64];
	const char *port = NULL;

	if (text[0] == '[') {
		const char *end = strchr(text, ']');
		snprintf(host, sizeof(host), "%.*s", end ? (int)(end - text - 1) : 0, text + 1);
		port = end && end[1] == ':' ? end + 2 : NULL;
	} else {
		const char *colon = strchr(text, ':');
		bool v4 = colon && !strchr(colon + 1, ':');
		snprintf(host, sizeof(host), "%.*s", v4 ? (int)(colon - text) : (int)strlen(text), text);
		port = v4 ? colon + 1 : NULL;
	}
	if (inet_pton(AF_INET, host, p.addr) == 1)
		p.family = 4;
	else if (inet_pton(AF_INET6, host, p.addr) == 1)
		p.family = 6;
	p.port = port ? (uint16_t)atoi(port) : 0;
	return p;
}

/* A pointer to the peer a text names, for calls that take one. */
#define PEER(text) ((const struct peer_addr[]){ peer_from(text) })

/* peer_text() into one of four rotating buffers, for asserts. */
static inline const char *peer_str(const struct peer_addr *p)
{
	static char buf[4][CLIENT_MAX];
	static unsigned next;
	char *b = buf[next++ % 4];
	return peer_text(p, b, CLIENT_MAX);
}

#endif
