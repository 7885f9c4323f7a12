#define _GNU_SOURCE
#include "shunt_ring.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifdef __linux__
#include <fcntl.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct shunt_ring {
    int fd;
    unsigned entries;
    unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    void *rings;
    size_t rings_size;
    size_t sqes_size;
};

shunt_ring *shunt_ring_create(unsigned entries) {
#if defined(__NR_io_uring_setup) && defined(__NR_io_uring_enter)
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int fd = (int)syscall(__NR_io_uring_setup, entries, &p);
    if (fd < 0) return NULL;
    if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
        close(fd);
        errno = ENOTSUP;
        return NULL;
    }
    size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    size_t size = sq_size > cq_size ? sq_size : cq_size;
    char *rings = mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    if (rings == MAP_FAILED) {
        close(fd);
        return NULL;
    }
    size_t sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
    void *sqes = mmap(0, sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (sqes == MAP_FAILED) {
        munmap(rings, size);
        close(fd);
        return NULL;
    }
    shunt_ring *ring = calloc(1, sizeof *ring);
    if (!ring) {
        munmap(sqes, sqes_size);
        munmap(rings, size);
        close(fd);
        return NULL;
    }
    ring->fd = fd;
    ring->entries = p.sq_entries < entries ? p.sq_entries : entries;
    ring->sq_tail = (unsigned *)(rings + p.sq_off.tail);
    ring->sq_mask = (unsigned *)(rings + p.sq_off.ring_mask);
    ring->sq_array = (unsigned *)(rings + p.sq_off.array);
    ring->cq_head = (unsigned *)(rings + p.cq_off.head);
    ring->cq_tail = (unsigned *)(rings + p.cq_off.tail);
    ring->cq_mask = (unsigned *)(rings + p.cq_off.ring_mask);
    ring->cqes = (struct io_uring_cqe *)(rings + p.cq_off.cqes);
    ring->sqes = sqes;
    ring->rings = rings;
    ring->rings_size = size;
    ring->sqes_size = sqes_size;
    return ring;
#else
    (void)entries;
    errno = ENOSYS;
    return NULL;
#endif
}

void shunt_ring_destroy(shunt_ring *ring) {
    if (!ring) return;
    munmap(ring->sqes, ring->sqes_size);
    munmap(ring->rings, ring->rings_size);
    close(ring->fd);
    free(ring);
}

unsigned shunt_ring_capacity(const shunt_ring *ring) { return ring->entries; }

int shunt_ring_send(shunt_ring *ring, const int *fds, const void *const *bytes, const unsigned *lengths, int count,
                    long *results) {
    if (count <= 0) return 0;
    if ((unsigned)count > ring->entries) return -EINVAL;
    unsigned tail = *ring->sq_tail;
    for (int i = 0; i < count; i++) {
        unsigned index = tail & *ring->sq_mask;
        struct io_uring_sqe *sqe = &ring->sqes[index];
        memset(sqe, 0, sizeof *sqe);
        sqe->opcode = IORING_OP_SEND;
        sqe->fd = fds[i];
        sqe->addr = (uint64_t)(uintptr_t)bytes[i];
        sqe->len = lengths[i];
        sqe->msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL;
        sqe->user_data = (uint64_t)i;
        ring->sq_array[index] = index;
        results[i] = -EIO;
        tail++;
    }
    __atomic_store_n(ring->sq_tail, tail, __ATOMIC_RELEASE);
    // Every entry is submitted before this returns: one left in the ring would be sent later, from
    // memory that is no longer the caller's.
    int submitted = 0;
    while (submitted < count) {
        int n = (int)syscall(__NR_io_uring_enter, ring->fd, count - submitted, count - submitted, IORING_ENTER_GETEVENTS,
                             NULL, 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EBUSY) continue;
            if (submitted == 0) return -errno;
            break;
        }
        submitted += n;
    }
    // Some were taken and the rest cannot be: the rest stay in the ring, which must not be entered
    // again (they would leave then, from memory that is no longer the caller's). Their results stay
    // -EIO: the caller sends them another way.
    int status = submitted < count ? 1 : 0;
    int reaped = 0;
    while (reaped < submitted) {
        unsigned head = *ring->cq_head;
        unsigned cq_tail = __atomic_load_n(ring->cq_tail, __ATOMIC_ACQUIRE);
        if (head == cq_tail) {
            syscall(__NR_io_uring_enter, ring->fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0);
            continue;
        }
        struct io_uring_cqe *cqe = &ring->cqes[head & *ring->cq_mask];
        if (cqe->user_data < (uint64_t)count) results[cqe->user_data] = cqe->res;
        __atomic_store_n(ring->cq_head, head + 1, __ATOMIC_RELEASE);
        reaped++;
    }
    return status;
}

long shunt_send_now(int fd, const void *bytes, size_t length) {
    for (;;) {
        ssize_t n = send(fd, bytes, length, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) return (long)n;
        if (errno == EINTR) continue;
        return -errno;
    }
}

int shunt_connect_now(const struct sockaddr *address, socklen_t length) {
    int fd = socket(address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, address, length) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct pollfd ready = {fd, POLLOUT, 0};
    int error = 0;
    socklen_t size = sizeof error;
    if (poll(&ready, 1, 0) != 1 || !(ready.revents & POLLOUT) || (ready.revents & (POLLERR | POLLHUP))
        || getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

#else

shunt_ring *shunt_ring_create(unsigned entries) {
    (void)entries;
    errno = ENOSYS;
    return NULL;
}
void shunt_ring_destroy(shunt_ring *ring) { (void)ring; }
unsigned shunt_ring_capacity(const shunt_ring *ring) { (void)ring; return 0; }
int shunt_ring_send(shunt_ring *ring, const int *fds, const void *const *bytes, const unsigned *lengths, int count,
                    long *results) {
    (void)ring; (void)fds; (void)bytes; (void)lengths; (void)count; (void)results;
    return -ENOSYS;
}
long shunt_send_now(int fd, const void *bytes, size_t length) { (void)fd; (void)bytes; (void)length; return -ENOSYS; }
int shunt_connect_now(const struct sockaddr *address, socklen_t length) { (void)address; (void)length; return -1; }
#endif
