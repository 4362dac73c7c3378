// SPDX-License-Identifier: MIT
/*
 * tap_in: the floor of l7top's loopback-only capture, for make bench. A
 * packet socket on every interface that ignores packets on their way out
 * (PACKET_IGNORE_OUTGOING, as l7top's when all the target's traffic is on
 * lo) and whose filter keeps nothing: what the kernel's tap costs before
 * any filter keeps a packet. tcpdump cannot ask for it (its -Q in filters
 * after the clone), so the bench's `tap` row is the floor with outgoing
 * packets, this one without.
 *
 *   tap_in        runs until SIGINT or SIGTERM
 */
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void)
{
	struct sock_filter none[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct sock_fprog prog = { .len = 1, .filter = none };
	int one = 1, sig;
	sigset_t set;
	int fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL));

	if (fd < 0 || setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog))) {
		perror("tap_in");
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigwait(&set, &sig);
	close(fd);
	return 0;
}
