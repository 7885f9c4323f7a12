// What the agent's own edge loop needs of Linux that Swift's Glibc module does not show:
// epoll, eventfd and accept4.
#ifndef SHUNT_EPOLL_H
#define SHUNT_EPOLL_H
#ifdef __linux__
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

int shunt_accept(int listener, struct sockaddr *address, socklen_t *length);
#endif
#endif
