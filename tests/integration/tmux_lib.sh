# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# The live view under tmux, for the integration tests (source lib.sh first):
#
#   tmux_setup NAME          a tmux server of our own (-L), killed on exit
#                            before lib.sh's cleanup; SESSION=NAME
#   tm ARGS...               tmux on that server
#   screen                   the pane's text now
#   shot                     saves it to $T/screen.N ($SHOT_F); call it in the
#                            test's own shell (not in $(...) or a pipe)
#   fail_screen MSG          shows the last shot, fails
#   wait_screen RE [TENTHS]  waits (default 8 s) until the screen matches RE
#   keys KEY...              send-keys, then a pause for the redraw

tmux_setup() {
	SOCK="l7top-$1-$$"
	SESSION=$1
	# lib.sh's EXIT trap stops NGINX and removes $T; the tmux server goes first.
	trap 'rc=$?; tmux -L "$SOCK" kill-server 2>/dev/null || true; it__on_exit $rc' EXIT
}

tm() { tmux -L "$SOCK" "$@"; }
screen() { tm capture-pane -p -t "$SESSION"; }

SHOT=0
SHOT_F=/dev/null
shot() {
	SHOT=$((SHOT + 1))
	SHOT_F=$T/screen.$SHOT
	screen >"$SHOT_F"
}

fail_screen() {
	it_show "screen" "$SHOT_F" 60
	it_fail "$*"
}

wait_screen() {
	local re=$1 n=${2:-80}
	while ((n-- > 0)); do
		screen | grep -Eq -- "$re" && return 0
		sleep 0.1
	done
	return 1
}

keys() { tm send-keys -t "$SESSION" "$@"; sleep 0.4; }
