/* LD_PRELOAD shim for benchmarks: every TCP connection a server accepts gets TCP_NODELAY.
 *
 * bench.servers starts nginx-rtmp with it (variant nginx-rtmp-nodelay) to compare the servers
 * with the same socket behaviour: nginx-rtmp leaves Nagle's algorithm on (it sets no socket
 * option on RTMP connections), the reference server sends at once by default (tcp_nodelay).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static int with_nodelay(int fd)
{
    if (fd >= 0) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0
            && (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
    }
    return fd;
}

int accept4(int s, struct sockaddr *addr, socklen_t *len, int flags)
{
    static int (*real)(int, struct sockaddr *, socklen_t *, int);
    if (!real)
        real = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
    return with_nodelay(real(s, addr, len, flags));
}

int accept(int s, struct sockaddr *addr, socklen_t *len)
{
    static int (*real)(int, struct sockaddr *, socklen_t *);
    if (!real)
        real = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
    return with_nodelay(real(s, addr, len));
}
