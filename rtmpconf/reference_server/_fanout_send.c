/* The reference server's compiled fan-out core, module _fanout_core (built by _fanout_build.py through cffi).
 *
 * One call hands the same bytes (one or more buffers, sent as one sendmsg) to many non-blocking
 * TCP sockets, without the GIL (cffi releases it for the call) and, for large batches, on two
 * threads: the caller and a persistent helper thread take sockets from one shared counter until
 * none is left. On loopback nearly all of a send's cost is the kernel's (TCP output, the
 * receiver's input path and its wake-up), so a second core roughly halves the time until the
 * last player's copy has left. Sharing by counter rather than by halves means a helper that the
 * scheduler runs late costs nothing: the caller sends whatever it has not taken, and withdraws
 * the job altogether if the helper has not started by the time every socket is done.
 *
 * A socket that takes less than everything (full send buffer, EAGAIN) or fails is reported back
 * with what it took; the caller hands the rest to the socket's transport, which queues it or
 * reports the error as it would have without this core.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#define FANOUT_MAX_BUFS 64
/* Raised whenever the call's meaning changes; fanout_core.py refuses a stale build. */
#define FANOUT_ABI 1

int rtmpconf_fanout_abi(void)
{
    return FANOUT_ABI;
}

/* Sockets a thread takes from the shared counter at a time. */
#define FANOUT_TAKE 2

struct fanout_job {
    const int *fds;
    int n;
    int *next;          /* the first socket nobody has taken yet (shared, atomic) */
    struct iovec *iov;
    int nbufs;
    size_t total;
    long *sent;
};

static void fanout_run(const struct fanout_job *job)
{
    struct msghdr msg;
    for (;;) {
        int lo = __atomic_fetch_add(job->next, FANOUT_TAKE, __ATOMIC_RELAXED);
        if (lo >= job->n)
            return;
        int hi = lo + FANOUT_TAKE < job->n ? lo + FANOUT_TAKE : job->n;
        for (int i = lo; i < hi; i++) {
            memset(&msg, 0, sizeof msg);
            msg.msg_iov = job->iov;
            msg.msg_iovlen = (size_t)job->nbufs;
            ssize_t n;
            do {
                n = sendmsg(job->fds[i], &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
            } while (n < 0 && errno == EINTR);
            job->sent[i] = n < 0 ? (errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -(long)errno) : (long)n;
        }
    }
}

/* The helper thread: waits for a job, runs it, signals completion. */
static pthread_mutex_t helper_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t helper_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t helper_done = PTHREAD_COND_INITIALIZER;
static struct fanout_job helper_job;
static int helper_state;   /* 0: no thread, 1: idle, 2: job posted, 4: job taken, 3: job finished */

static void *helper_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&helper_lock);
    for (;;) {
        while (helper_state != 2)
            pthread_cond_wait(&helper_wake, &helper_lock);
        struct fanout_job job = helper_job;
        helper_state = 4;  /* from now on the caller waits for it */
        pthread_mutex_unlock(&helper_lock);
        fanout_run(&job);
        pthread_mutex_lock(&helper_lock);
        helper_state = 3;
        pthread_cond_signal(&helper_done);
    }
    return NULL;
}

/* A child forked while the helper existed has no helper: start afresh there. */
static void helper_forget(void)
{
    pthread_mutex_init(&helper_lock, NULL);
    pthread_cond_init(&helper_wake, NULL);
    pthread_cond_init(&helper_done, NULL);
    helper_state = 0;
}

static int helper_start(void)
{
    static int atfork_registered;
    if (helper_state != 0)
        return 1;
    if (!atfork_registered) {
        if (pthread_atfork(NULL, NULL, helper_forget) != 0)
            return 0;
        atfork_registered = 1;
    }
    pthread_attr_t attr;
    pthread_t tid;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    int ok = pthread_create(&tid, &attr, helper_main, NULL) == 0;
    pthread_attr_destroy(&attr);
    if (ok)
        helper_state = 1;
    return ok;
}

/* Send bufs[0..nbufs) to each of fds[0..n); sent[i] = bytes fds[i] took (0 when it would block,
 * -errno on an error). Indices of sockets that did not take everything go to short_idx, in order;
 * returns their number, or -1 when nbufs is out of range. Batches of at least split_min sockets
 * use the helper thread when threads > 1 and no other call holds it. */
int rtmpconf_fanout_send(const int *fds, int n, const char *const *bufs, const size_t *lens, int nbufs,
                         long *sent, int *short_idx, int threads, int split_min)
{
    if (nbufs < 1 || nbufs > FANOUT_MAX_BUFS)
        return -1;
    struct iovec iov[FANOUT_MAX_BUFS];
    size_t total = 0;
    for (int b = 0; b < nbufs; b++) {
        iov[b].iov_base = (void *)bufs[b];
        iov[b].iov_len = lens[b];
        total += lens[b];
    }
    int next = 0;
    struct fanout_job mine = {fds, n, &next, iov, nbufs, total, sent};
    int helped = 0;
    if (threads > 1 && n >= split_min && n >= 2) {
        pthread_mutex_lock(&helper_lock);
        /* Another server loop of this process (tests run several) may hold the helper:
         * then this batch goes on the caller's thread alone. */
        if (helper_start() && helper_state == 1) {
            helper_job = mine;
            helper_state = 2;
            pthread_cond_signal(&helper_wake);
            helped = 1;
        }
        pthread_mutex_unlock(&helper_lock);
    }
    fanout_run(&mine);
    if (helped) {
        pthread_mutex_lock(&helper_lock);
        if (helper_state == 2) {
            helper_state = 1;  /* not started: withdrawn, it never touches this job */
        } else {
            while (helper_state != 3)  /* taken: it finishes the sockets it holds (at most FANOUT_TAKE) */
                pthread_cond_wait(&helper_done, &helper_lock);
            helper_state = 1;
        }
        pthread_mutex_unlock(&helper_lock);
    }
    int shorts = 0;
    for (int i = 0; i < n; i++)
        if (sent[i] != (long)total)
            short_idx[shorts++] = i;
    return shorts;
}
