/* Shared by the C forwarding path's files: _fastsend.c (the module: send_frames,
 * send_lane and the lane entry's layout), _fastsend_pack.c (packing, SRTP protection and
 * sending of one viewer's datagrams) and _fastsend_batch.c (the sendmmsg batch). */
#ifndef DIRECTLIVE_FASTSEND_H
#define DIRECTLIVE_FASTSEND_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define GSO_MAX_BYTES 65000
#define SRTP_MAX_TRAILER 144 /* pylibsrtp.SRTP_MAX_TRAILER_LEN */
#define BATCH_LIMIT (GSO_MAX_BYTES - SRTP_MAX_TRAILER)
#define RTP_HEADER 12
#define LANE_BUFFER_BYTES (4 * 1024 * 1024)
#define LANE_MESSAGES 1024 /* UIO_MAXIOV: the most one sendmmsg takes */

typedef int (*protect_fn)(void *context, void *packet, int *length);

typedef struct Batch Batch;

typedef struct {
    int fd; /* -1: every datagram goes to leftovers */
    const struct sockaddr *address;
    socklen_t address_length;
    int gso_refused;
    long segmented_sends;
    PyObject **leftovers; /* the list datagrams not sent directly go to (made when needed) */
    unsigned char *base; /* where the next datagrams are written: `buffer`, or batch space */
    Batch *batch;        /* NULL: send each batch of datagrams at once (send_frames) */
    Py_ssize_t owner;    /* with a batch: this viewer's index in it */
} Output;

typedef struct {
    protect_fn protect;
    void *context;
    long max_segments;
    long first_byte;
    long payload_type;
    unsigned long ssrc;
    PyObject *history; /* list */
} Sender;

typedef struct {
    long packets;
    long long wire_bytes;
    long long payload_bytes;
} Totals;

typedef struct {
    Py_ssize_t owner; /* the viewer's index in the send_lane call */
    size_t offset;    /* in lane_buffer */
    Py_ssize_t length;
    int segment;
    int count;
    int gso; /* one message with UDP_SEGMENT; else `count` is 1 */
    const struct sockaddr *address;
    socklen_t address_length;
} Message;

typedef struct {
    PyObject *leftovers; /* the datagrams it still owes once a send failed, in order */
    long segmented_sends;
    int failed; /* a send did not go straight out: the rest goes to leftovers */
    int errored; /* reported with an exception instead */
} Owner;

struct Batch {
    int fd;
    size_t used;
    Py_ssize_t count;
    int gso_refused;
    Owner *owners;
    Message messages[LANE_MESSAGES];
    struct mmsghdr headers[LANE_MESSAGES];
    struct iovec vectors[LANE_MESSAGES];
    char controls[LANE_MESSAGES][CMSG_SPACE(sizeof(uint16_t))];
};

extern unsigned char fs_buffer[GSO_MAX_BYTES];
extern unsigned char fs_lane_buffer[LANE_BUFFER_BYTES];
extern Batch fs_lane_batch;

int fs_gso_unsupported(int error);
/* Appends the datagrams in data[:size] (`segment` bytes each, the last maybe shorter) to
 * the list in *slot, made when it is still NULL. */
int fs_append_leftovers(PyObject **slot, const unsigned char *data, Py_ssize_t size,
                        int segment);
/* Packs, protects and sends `count` frames, each (first sequence number, payloads, RTP
 * timestamp, extension block), recording each packet's frame in the NACK history.
 * 0 on success; -1 with a Python error set (a RuntimeError when srtp_protect failed). */
int fs_pack_and_send(Output *out, const Sender *sender, PyObject *const *frames,
                     Py_ssize_t count_frames, Totals *totals);
int fs_read_protect(PyObject *address, protect_fn *protect);
/* Queues the `count` datagrams just written at out->base; sends the batch when it is full. */
int fs_batch_add(Output *out, Py_ssize_t end, Py_ssize_t count, int segment, int gso);
/* Sends every queued message on the batch's socket (see _fastsend_batch.c). */
int fs_batch_send(Batch *batch);

#endif
