#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# node's https server (OpenSSL 3 linked into /usr/bin/node) with the default
# --tls auto: l7top must pick keys mode (EVP_KDF_derive in the executable)
# and still see exactly the requests sent. Same traffic and checks as
# test_tls_node.sh, which runs them in calls mode.
L7_TLS_MODE=auto exec bash "$(dirname "$0")/test_tls_node.sh"
