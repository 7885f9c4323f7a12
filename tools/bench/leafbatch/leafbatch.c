// A measuring instrument, not a part of Shunt (tools/bench/leafbatch.sh runs it): preloaded into
// a proxy process (LD_PRELOAD), it holds back the writes that process makes to the "leaves" of the
// benchmark's chain, the caller (wrk) or the service (nginx), and sends all that one thread held
// back in a single io_uring_enter, just before that thread next calls epoll_wait: where the proxy
// made one write system call per connection, each of which could wake a leaf that then took the
// core from it (wake-up preemption, tools/bench/leaves.sh), it makes one per wake-up of its loop.
// It answers each held write as if it were all sent at once: it is for measuring what a batched
// write path would give, and would be wrong in a product (a failed send is not reported).
//
// Which sockets are leaves: TCP sockets whose peer port is LEAFBATCH_PEER_PORT (the service's
// port, for the laptop) or whose own port is LEAFBATCH_LOCAL_PORT (the edge's port, for the
// agent). Other writes pass untouched. Without io_uring the held writes go out one by one.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_HELD 256
#define MAX_FD 65536

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_close)(int);
static int (*real_shutdown)(int, int);
static int (*real_epoll_wait)(int, struct epoll_event *, int, int);
static int peer_port = -1, local_port = -1;
// Per descriptor: 0 not yet looked at, 1 a leaf, 2 not a leaf.
static unsigned char kind[MAX_FD];

struct held { int fd; char *bytes; size_t length, capacity; };
struct ring {
    int fd;
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    int ready;  // 1 set up, -1 unavailable
};
static __thread struct held held[MAX_HELD];
static __thread int held_count;
static __thread struct ring ring;

__attribute__((constructor)) static void setup(void) {
    real_write = dlsym(RTLD_NEXT, "write");
    real_writev = dlsym(RTLD_NEXT, "writev");
    real_close = dlsym(RTLD_NEXT, "close");
    real_shutdown = dlsym(RTLD_NEXT, "shutdown");
    real_epoll_wait = dlsym(RTLD_NEXT, "epoll_wait");
    const char *p = getenv("LEAFBATCH_PEER_PORT"), *l = getenv("LEAFBATCH_LOCAL_PORT");
    if (p) peer_port = atoi(p);
    if (l) local_port = atoi(l);
}

static int port_of(struct sockaddr_storage *a) {
    if (a->ss_family == AF_INET) return ntohs(((struct sockaddr_in *)a)->sin_port);
    if (a->ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)a)->sin6_port);
    return -2;
}

static int is_leaf(int fd) {
    if (fd < 0 || fd >= MAX_FD) return 0;
    if (kind[fd] == 0) {
        struct sockaddr_storage a;
        socklen_t n = sizeof a;
        int leaf = 0;
        if (peer_port >= 0 && getpeername(fd, (struct sockaddr *)&a, &n) == 0 && port_of(&a) == peer_port) leaf = 1;
        n = sizeof a;
        if (!leaf && local_port >= 0 && getsockname(fd, (struct sockaddr *)&a, &n) == 0 && port_of(&a) == local_port
            && getpeername(fd, (struct sockaddr *)&a, &(socklen_t){sizeof a}) == 0) leaf = 1;
        kind[fd] = leaf ? 1 : 2;
    }
    return kind[fd] == 1;
}

static void ring_setup(void) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int fd = (int)syscall(__NR_io_uring_setup, MAX_HELD, &p);
    if (fd < 0 || !(p.features & IORING_FEAT_SINGLE_MMAP)) { ring.ready = -1; return; }
    size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    size_t size = sq_size > cq_size ? sq_size : cq_size;
    char *q = mmap(0, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    void *s = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (q == MAP_FAILED || s == MAP_FAILED) { ring.ready = -1; return; }
    ring.fd = fd;
    ring.sq_head = (unsigned *)(q + p.sq_off.head);
    ring.sq_tail = (unsigned *)(q + p.sq_off.tail);
    ring.sq_mask = (unsigned *)(q + p.sq_off.ring_mask);
    ring.sq_array = (unsigned *)(q + p.sq_off.array);
    ring.cq_head = (unsigned *)(q + p.cq_off.head);
    ring.cq_tail = (unsigned *)(q + p.cq_off.tail);
    ring.cq_mask = (unsigned *)(q + p.cq_off.ring_mask);
    ring.cqes = (struct io_uring_cqe *)(q + p.cq_off.cqes);
    ring.sqes = s;
    ring.ready = 1;
}

// What the ring did not send (a short send, EAGAIN, no ring): sent with write, waiting if it must.
static void send_rest(int fd, const char *bytes, size_t length) {
    while (length > 0) {
        ssize_t n = real_write(fd, bytes, length);
        if (n > 0) { bytes += n; length -= (size_t)n; continue; }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { poll(&(struct pollfd){fd, POLLOUT, 0}, 1, 100); continue; }
        if (n < 0 && errno == EINTR) continue;
        return;  // the peer is gone: as a failed send, nothing more to do here
    }
}

static void flush_held(void) {
    if (held_count == 0) return;
    if (ring.ready == 0) ring_setup();
    int count = held_count;
    held_count = 0;
    if (ring.ready < 0 || count == 1) {
        for (int i = 0; i < count; i++) send_rest(held[i].fd, held[i].bytes, held[i].length);
        for (int i = 0; i < count; i++) held[i].length = 0;
        return;
    }
    unsigned tail = *ring.sq_tail;
    for (int i = 0; i < count; i++) {
        unsigned index = tail & *ring.sq_mask;
        struct io_uring_sqe *sqe = &ring.sqes[index];
        memset(sqe, 0, sizeof *sqe);
        sqe->opcode = IORING_OP_SEND;
        sqe->fd = held[i].fd;
        sqe->addr = (uint64_t)(uintptr_t)held[i].bytes;
        sqe->len = (uint32_t)held[i].length;
        sqe->msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
        sqe->user_data = (uint64_t)i;
        ring.sq_array[index] = index;
        tail++;
    }
    __atomic_store_n(ring.sq_tail, tail, __ATOMIC_RELEASE);
    int submitted = (int)syscall(__NR_io_uring_enter, ring.fd, count, count, IORING_ENTER_GETEVENTS, NULL, 0);
    if (submitted < 0) submitted = 0;
    long sent[MAX_HELD];
    for (int i = 0; i < count; i++) sent[i] = 0;
    int reaped = 0;
    while (reaped < submitted) {
        unsigned head = *ring.cq_head;
        unsigned cq_tail = __atomic_load_n(ring.cq_tail, __ATOMIC_ACQUIRE);
        if (head == cq_tail) {
            syscall(__NR_io_uring_enter, ring.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0);
            continue;
        }
        struct io_uring_cqe *cqe = &ring.cqes[head & *ring.cq_mask];
        if (cqe->user_data < (uint64_t)count && cqe->res > 0) sent[cqe->user_data] = cqe->res;
        __atomic_store_n(ring.cq_head, head + 1, __ATOMIC_RELEASE);
        reaped++;
    }
    for (int i = 0; i < count; i++) {
        if ((size_t)sent[i] < held[i].length) send_rest(held[i].fd, held[i].bytes + sent[i], held[i].length - (size_t)sent[i]);
        held[i].length = 0;
    }
}

static void hold(int fd, const struct iovec *iov, int iovcnt) {
    int slot = -1;
    for (int i = 0; i < held_count; i++) if (held[i].fd == fd) { slot = i; break; }
    if (slot < 0) {
        if (held_count == MAX_HELD) flush_held();
        slot = held_count++;
        held[slot].fd = fd;
        held[slot].length = 0;
    }
    struct held *h = &held[slot];
    for (int i = 0; i < iovcnt; i++) {
        if (h->length + iov[i].iov_len > h->capacity) {
            size_t capacity = (h->length + iov[i].iov_len) * 2;
            h->bytes = realloc(h->bytes, capacity);
            h->capacity = capacity;
        }
        memcpy(h->bytes + h->length, iov[i].iov_base, iov[i].iov_len);
        h->length += iov[i].iov_len;
    }
}

ssize_t write(int fd, const void *bytes, size_t length) {
    if (!is_leaf(fd)) return real_write(fd, bytes, length);
    struct iovec v = {(void *)bytes, length};
    hold(fd, &v, 1);
    return (ssize_t)length;
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    if (!is_leaf(fd)) return real_writev(fd, iov, iovcnt);
    ssize_t total = 0;
    for (int i = 0; i < iovcnt; i++) total += (ssize_t)iov[i].iov_len;
    hold(fd, iov, iovcnt);
    return total;
}

int close(int fd) {
    if (fd >= 0 && fd < MAX_FD) {
        for (int i = 0; i < held_count; i++) if (held[i].fd == fd) { flush_held(); break; }
        kind[fd] = 0;
    }
    return real_close(fd);
}

// A half-close must not overtake what is held for the socket.
int shutdown(int fd, int how) {
    for (int i = 0; i < held_count; i++) if (held[i].fd == fd) { flush_held(); break; }
    return real_shutdown(fd, how);
}

int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout) {
    flush_held();
    return real_epoll_wait(epfd, events, maxevents, timeout);
}
