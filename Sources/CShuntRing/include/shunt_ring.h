// One system call for many small sends: an io_uring submission of one SEND per socket, made by
// `SocketWriteBatch` (ShuntSession) at the end of an event loop's wake-up. Linux only; elsewhere,
// and wherever io_uring cannot be had (an old kernel, a seccomp profile, io_uring_disabled),
// `shunt_ring_create` returns NULL and the caller writes as before.
#ifndef SHUNT_RING_H
#define SHUNT_RING_H
#include <stddef.h>
#include <sys/socket.h>

typedef struct shunt_ring shunt_ring;

// A ring for at most `entries` sends at once, or NULL (with errno) where io_uring is not available.
shunt_ring *shunt_ring_create(unsigned entries);
void shunt_ring_destroy(shunt_ring *ring);
// The most sends one `shunt_ring_send` takes.
unsigned shunt_ring_capacity(const shunt_ring *ring);
// Sends bytes[i] (lengths[i] octets) on fds[i], for i < count (at most the capacity), without
// waiting (MSG_DONTWAIT) and without SIGPIPE, in one io_uring_enter, and waits for every result:
// results[i] is the octets sent, or -errno (-EIO for one the kernel did not take). Returns 0; 1 when
// the kernel took only some; -errno when it took none. Unless 0, the ring must not be used again.
int shunt_ring_send(shunt_ring *ring, const int *fds, const void *const *bytes, const unsigned *lengths, int count,
                    long *results);
// One send on a non-blocking socket, without SIGPIPE: octets sent, or -errno.
long shunt_send_now(int fd, const void *bytes, size_t length);
// A TCP connection to `address` (a loopback address) that is established when connect returns, as
// loopback connections are when something listens: a non-blocking socket with TCP_NODELAY, closed on
// exec. -1 when it is not established at once (refused, pending, any error): the caller dials as usual.
int shunt_connect_now(const struct sockaddr *address, socklen_t length);
#endif
