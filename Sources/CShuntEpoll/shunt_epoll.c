#ifdef __linux__
#define _GNU_SOURCE
#include "shunt_epoll.h"

// A connection, non-blocking and closed on exec, as the rest of the loop's sockets.
int shunt_accept(int listener, struct sockaddr *address, socklen_t *length) {
    return accept4(listener, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
#endif
