/* streamer.forwarding._fastsend: the forwarding hot path of RtpForwarder._send_frames, in C.
 *
 * One call per viewer and drain: writes every RTP packet of the given frames into one
 * buffer (header from this viewer's fields, the frame's shared payloads), has libsrtp
 * protect each in place through the function pointer pylibsrtp exports, and sends the
 * buffer to the viewer's socket in UDP GSO batches of equal-sized datagrams (or one
 * sendto per datagram). It also records each packet's frame in the NACK history.
 * The Python version, send_frames in streamer/forwarding/datagrams.py, is the reference;
 * both are tested byte for byte against a decrypting receiver.
 *
 * send_lane sends one frame to every viewer of a lane. It packs every viewer's datagrams
 * into one large buffer and sends them with sendmmsg, one message per viewer and GSO batch
 * (each with its own destination and UDP_SEGMENT): when the viewers share one socket
 * (--udp-port), a frame to a hundred viewers is one system call instead of a hundred.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
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

typedef int (*protect_fn)(void *context, void *packet, int *length);

static unsigned char buffer[GSO_MAX_BYTES];

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

static int gso_unsupported(int error) {
    return error == EINVAL || error == ENOPROTOOPT || error == EOPNOTSUPP || error == EIO;
}

static int send_segmented(Output *out, Py_ssize_t end, int segment) {
    struct iovec vector = {out->base, (size_t)end};
    char control[CMSG_SPACE(sizeof(uint16_t))];
    memset(control, 0, sizeof(control));
    struct msghdr message = {0};
    message.msg_name = (void *)out->address;
    message.msg_namelen = out->address_length;
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_UDP;
    header->cmsg_type = UDP_SEGMENT;
    header->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t size = (uint16_t)segment;
    memcpy(CMSG_DATA(header), &size, sizeof(size));
    ssize_t sent;
    do {
        sent = sendmsg(out->fd, &message, 0);
    } while (sent < 0 && errno == EINTR);
    if (sent >= 0)
        return 1;
    if (gso_unsupported(errno))
        out->gso_refused = 1;
    return 0;
}

static int batch_add(Output *out, Py_ssize_t end, Py_ssize_t count, int segment, int gso);

/* Appends the datagrams in data[:size] (`segment` bytes each, the last maybe shorter) to
 * the list in *slot, made when it is still NULL. */
static int append_leftovers(PyObject **slot, const unsigned char *data, Py_ssize_t size,
                            int segment) {
    if (size > 0 && *slot == NULL && (*slot = PyList_New(0)) == NULL)
        return -1;
    for (Py_ssize_t start = 0; start < size; start += segment) {
        Py_ssize_t length = size - start < segment ? size - start : segment;
        PyObject *datagram = PyBytes_FromStringAndSize((const char *)data + start, length);
        if (datagram == NULL)
            return -1;
        int failed = PyList_Append(*slot, datagram);
        Py_DECREF(datagram);
        if (failed)
            return -1;
    }
    return 0;
}

/* Sends the `count` datagrams in base[:end] (`segment` bytes each, the last maybe
 * shorter), or with a batch queues them for its sendmmsg. Once a direct send fails, the
 * rest of the call goes to leftovers, in order. */
static int flush(Output *out, Py_ssize_t end, Py_ssize_t count, int segment, int gso) {
    Py_ssize_t start = 0;
    if (out->batch != NULL && out->fd >= 0)
        return batch_add(out, end, count, segment, gso);
    if (out->fd >= 0) {
        if (count > 1 && gso && !out->gso_refused && send_segmented(out, end, segment)) {
            out->segmented_sends++;
            return 0;
        }
        if (count > 1 && !out->gso_refused)
            out->fd = -1; /* the socket is busy: the asyncio transport takes the rest */
        for (; out->fd >= 0 && start < end; start += segment) {
            Py_ssize_t length = end - start < segment ? end - start : segment;
            ssize_t sent;
            do {
                sent = sendto(out->fd, out->base + start, (size_t)length, 0, out->address,
                              out->address_length);
            } while (sent < 0 && errno == EINTR);
            if (sent < 0) {
                out->fd = -1;
                break;
            }
        }
    }
    return append_leftovers(out->leftovers, out->base + start, end - start, segment);
}

static void put32(unsigned char *at, uint32_t value) {
    at[0] = (unsigned char)(value >> 24);
    at[1] = (unsigned char)(value >> 16);
    at[2] = (unsigned char)(value >> 8);
    at[3] = (unsigned char)value;
}

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

/* Packs, protects and sends `count` frames, each (first sequence number, payloads, RTP
 * timestamp, extension block), recording each packet's frame in the NACK history.
 * 0 on success; -1 with a Python error set (a RuntimeError when srtp_protect failed). */
static int pack_and_send(Output *out, const Sender *sender, PyObject *const *frames,
                         Py_ssize_t count_frames, Totals *totals) {
    Py_ssize_t history_size = PyList_GET_SIZE(sender->history);
    int gso = sender->max_segments > 1;
    /* The batch in buffer[:end]: count datagrams of wire_segment bytes, from packets of
     * segment bytes before SRTP (libsrtp adds the same tag to every packet of a session). */
    Py_ssize_t end = 0, count = 0, segment = 0, wire_segment = 0;
    for (Py_ssize_t f = 0; f < count_frames; f++) {
        PyObject *sent = frames[f];
        if (!PyTuple_Check(sent) || PyTuple_GET_SIZE(sent) != 4 ||
            !PyList_Check(PyTuple_GET_ITEM(sent, 1)) || !PyBytes_Check(PyTuple_GET_ITEM(sent, 3))) {
            PyErr_SetString(PyExc_TypeError, "a frame is (sequence, payloads, timestamp, ext)");
            return -1;
        }
        long sequence = PyLong_AsLong(PyTuple_GET_ITEM(sent, 0));
        unsigned long timestamp = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(sent, 2));
        if (PyErr_Occurred())
            return -1;
        PyObject *payloads = PyTuple_GET_ITEM(sent, 1);
        PyObject *extensions = PyTuple_GET_ITEM(sent, 3);
        const char *extension_bytes = PyBytes_AS_STRING(extensions);
        Py_ssize_t extension_size = PyBytes_GET_SIZE(extensions);
        Py_ssize_t header_size = RTP_HEADER + extension_size;
        Py_ssize_t last = PyList_GET_SIZE(payloads) - 1;
        for (Py_ssize_t index = 0; index <= last; index++) {
            PyObject *payload = PyList_GET_ITEM(payloads, index);
            if (!PyBytes_Check(payload)) {
                PyErr_SetString(PyExc_TypeError, "an RTP payload is not bytes");
                return -1;
            }
            Py_ssize_t payload_size = PyBytes_GET_SIZE(payload);
            Py_ssize_t size = header_size + payload_size;
            if (size > segment || count == sender->max_segments || end + size > BATCH_LIMIT) {
                if (count) {
                    if (flush(out, end, count, (int)wire_segment, gso) < 0)
                        return -1;
                    totals->wire_bytes += end;
                    end = count = 0;
                }
                if (size > BATCH_LIMIT) {
                    PyErr_Format(PyExc_ValueError, "RTP packet too long (%zd bytes)", size);
                    return -1;
                }
            }
            unsigned char *packet = out->base + end;
            packet[0] = (unsigned char)sender->first_byte;
            packet[1] = (unsigned char)((index == last ? 0x80 : 0) | sender->payload_type);
            packet[2] = (unsigned char)(sequence >> 8);
            packet[3] = (unsigned char)sequence;
            put32(packet + 4, (uint32_t)timestamp);
            put32(packet + 8, (uint32_t)sender->ssrc);
            memcpy(packet + RTP_HEADER, extension_bytes, (size_t)extension_size);
            memcpy(packet + header_size, PyBytes_AS_STRING(payload), (size_t)payload_size);
            int length = (int)size;
            int status = sender->protect(sender->context, packet, &length);
            if (status != 0) {
                PyErr_Format(PyExc_RuntimeError, "srtp_protect failed (status %d)", status);
                return -1;
            }
            if (!count) {
                segment = size;
                wire_segment = length;
            } else if (size < segment) {
                segment = -1; /* a shorter datagram ends the batch */
            }
            count++;
            end += length;
            totals->payload_bytes += payload_size;
            Py_INCREF(sent);
            if (PyList_SetItem(sender->history, sequence % history_size, sent) < 0)
                return -1; /* PyList_SetItem released `sent` */
            sequence = (sequence + 1) & 0xFFFF;
        }
        totals->packets += last + 1;
    }
    if (count) {
        if (flush(out, end, count, (int)wire_segment, gso) < 0)
            return -1;
        totals->wire_bytes += end;
    }
    return 0;
}

static int read_protect(PyObject *address, protect_fn *protect) {
    uintptr_t value = (uintptr_t)PyLong_AsVoidPtr(address);
    if (PyErr_Occurred())
        return -1;
    if (value == 0) {
        PyErr_SetString(PyExc_ValueError, "null srtp_protect");
        return -1;
    }
    *protect = (protect_fn)value;
    return 0;
}

PyDoc_STRVAR(send_frames_doc,
"send_frames(protect, context, fd, address, max_segments, first_byte, payload_type, ssrc,\n"
"            frames, history, leftovers)\n"
"    -> (packets, wire_bytes, payload_bytes, segmented_sends, gso_refused)\n\n"
"protect: address of libsrtp's srtp_protect; context: address of the srtp_t.\n"
"fd: the viewer's UDP socket, or -1 to return every datagram in leftovers.\n"
"address: the destination as a packed struct sockaddr.\n"
"frames: (first sequence number, payloads, RTP timestamp, extension block) per frame;\n"
"each packet's tuple is stored in history[sequence number % len(history)].\n"
"Datagrams not sent directly (socket busy, or fd -1) are appended to leftovers, in order.");

static PyObject *send_frames(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "send_frames takes 11 arguments");
        return NULL;
    }
    Sender sender;
    if (read_protect(args[0], &sender.protect) < 0)
        return NULL;
    sender.context = PyLong_AsVoidPtr(args[1]);
    long fd = PyLong_AsLong(args[2]);
    sender.max_segments = PyLong_AsLong(args[4]);
    sender.first_byte = PyLong_AsLong(args[5]);
    sender.payload_type = PyLong_AsLong(args[6]);
    sender.ssrc = PyLong_AsUnsignedLong(args[7]);
    sender.history = args[9];
    if (PyErr_Occurred())
        return NULL;
    if (!PyBytes_Check(args[3]) || !PyList_Check(args[8]) || !PyList_Check(sender.history) ||
        !PyList_Check(args[10]) || PyList_GET_SIZE(sender.history) == 0 ||
        sender.context == NULL) {
        PyErr_SetString(PyExc_TypeError, "send_frames: bad arguments");
        return NULL;
    }
    PyObject *leftovers = args[10];
    Output out = {(int)fd,    (const struct sockaddr *)PyBytes_AS_STRING(args[3]),
                  (socklen_t)PyBytes_GET_SIZE(args[3]),
                  0,          0,
                  &leftovers, buffer,
                  NULL,       0};
    if (out.address_length == 0)
        out.fd = -1;
    Totals totals = {0, 0, 0};
    PyObject *frames = args[8];
    if (pack_and_send(&out, &sender, &PyList_GET_ITEM(frames, 0), PyList_GET_SIZE(frames),
                      &totals) < 0)
        return NULL;
    return Py_BuildValue("(lLLli)", totals.packets, totals.wire_bytes, totals.payload_bytes,
                         out.segmented_sends, out.gso_refused);
}

/* A lane entry: a list with these items, in this order. The one definition of its layout:
 * the module exports the names as LANE_FIELDS, and streamer/forwarding/lane.py places
 * each item by name. */
#define LANE_ENTRY_FIELDS(X)                                                                  \
    X(SOCKET, "socket")                                                                       \
    X(ADDRESS, "address")                                                                     \
    X(MAX_SEGMENTS, "max_segments")                                                           \
    X(FIRST_BYTE, "first_byte")                                                               \
    X(PAYLOAD_TYPE, "payload_type")                                                           \
    X(SSRC, "ssrc")                                                                           \
    X(EXTENSION_PREFIX, "extension_prefix")                                                   \
    X(EXTENSION_SUFFIX, "extension_suffix")                                                   \
    X(ABS_SEND_TIME, "abs_send_time")                                                         \
    X(CONTEXT, "context")                                                                     \
    X(TIMESTAMP_ORIGIN, "timestamp_origin")                                                   \
    X(HISTORY, "history")                                                                     \
    X(SEQUENCE, "sequence")                                                                   \
    X(PACKETS, "packets")                                                                     \
    X(PAYLOAD_BYTES, "payload_bytes")                                                         \
    X(WIRE_BYTES, "wire_bytes")                                                               \
    X(SEGMENTED_SENDS, "segmented_sends")                                                     \
    X(LAST_NTP, "last_ntp")                                                                   \
    X(LAST_TIMESTAMP, "last_timestamp")

#define AS_INDEX(name, text) E_##name,
enum { LANE_ENTRY_FIELDS(AS_INDEX) E_SIZE };
#define AS_NAME(name, text) text,
static const char *const lane_field_names[E_SIZE] = {LANE_ENTRY_FIELDS(AS_NAME)};

static int add_to_item(PyObject *entry, Py_ssize_t index, long long value) {
    if (value == 0)
        return 0;
    long long current = PyLong_AsLongLong(PyList_GET_ITEM(entry, index));
    if (current == -1 && PyErr_Occurred())
        return -1;
    PyObject *sum = PyLong_FromLongLong(current + value);
    if (sum == NULL)
        return -1;
    return PyList_SetItem(entry, index, sum); /* steals `sum`, even when it fails */
}

static int set_item(PyObject *entry, Py_ssize_t index, PyObject *value) {
    if (value == NULL)
        return -1;
    return PyList_SetItem(entry, index, value); /* steals `value`, even when it fails */
}

/* ---- send_lane: every viewer's datagrams of a frame in one sendmmsg ---- */

#define LANE_BUFFER_BYTES (4 * 1024 * 1024)
#define LANE_MESSAGES 1024 /* UIO_MAXIOV: the most one sendmmsg takes */

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

static unsigned char lane_buffer[LANE_BUFFER_BYTES];
static Batch lane_batch;
static int lane_busy; /* send_lane is not reentrant (one static batch) */

/* What `message` still owes from byte `from` on goes to its owner's leftovers. */
static int owe(Batch *batch, const Message *message, Py_ssize_t from) {
    Owner *owner = &batch->owners[message->owner];
    owner->failed = 1;
    return append_leftovers(&owner->leftovers, lane_buffer + message->offset + from,
                            message->length - from, message->segment);
}

/* A GSO message the kernel would not take: its datagrams one by one. */
static int send_one_by_one(Batch *batch, const Message *message) {
    for (Py_ssize_t start = 0; start < message->length; start += message->segment) {
        Py_ssize_t rest = message->length - start;
        size_t length = (size_t)(rest < message->segment ? rest : message->segment);
        ssize_t sent;
        do {
            sent = sendto(batch->fd, lane_buffer + message->offset + start, length, 0,
                          message->address, message->address_length);
        } while (sent < 0 && errno == EINTR);
        if (sent < 0)
            return owe(batch, message, start);
    }
    return 0;
}

static void prepare_header(Batch *batch, Py_ssize_t index) {
    const Message *message = &batch->messages[index];
    struct msghdr *header = &batch->headers[index].msg_hdr;
    batch->vectors[index].iov_base = lane_buffer + message->offset;
    batch->vectors[index].iov_len = (size_t)message->length;
    memset(header, 0, sizeof(*header));
    header->msg_name = (void *)message->address;
    header->msg_namelen = message->address_length;
    header->msg_iov = &batch->vectors[index];
    header->msg_iovlen = 1;
    if (message->gso) {
        char *control = batch->controls[index];
        memset(control, 0, sizeof(batch->controls[index]));
        header->msg_control = control;
        header->msg_controllen = sizeof(batch->controls[index]);
        struct cmsghdr *item = CMSG_FIRSTHDR(header);
        item->cmsg_level = SOL_UDP;
        item->cmsg_type = UDP_SEGMENT;
        item->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t size = (uint16_t)message->segment;
        memcpy(CMSG_DATA(item), &size, sizeof(size));
    }
}

/* Sends every queued message on the batch's socket, in order, in as few sendmmsg calls as
 * the kernel allows. A viewer whose message is refused (socket busy, or any other error)
 * owes the rest of its datagrams; the others' messages still go. -1 on a Python error. */
static int batch_send(Batch *batch) {
    Py_ssize_t index = 0;
    while (index < batch->count) {
        Message *message = &batch->messages[index];
        Owner *owner = &batch->owners[message->owner];
        if (owner->failed) {
            if (owe(batch, message, 0) < 0)
                return -1;
            index++;
            continue;
        }
        if (message->count > 1 && !message->gso) {
            if (send_one_by_one(batch, message) < 0)
                return -1;
            index++;
            continue;
        }
        Py_ssize_t end = index;
        while (end < batch->count && end - index < LANE_MESSAGES) {
            const Message *next = &batch->messages[end];
            if (batch->owners[next->owner].failed || (next->count > 1 && !next->gso))
                break;
            prepare_header(batch, end);
            end++;
        }
        int sent;
        do {
            sent = sendmmsg(batch->fd, batch->headers + index, (unsigned int)(end - index), 0);
        } while (sent < 0 && errno == EINTR);
        if (sent > 0) {
            for (Py_ssize_t done = index; done < index + sent; done++)
                if (batch->messages[done].gso)
                    batch->owners[batch->messages[done].owner].segmented_sends++;
            index += sent;
            continue;
        }
        if (message->gso && gso_unsupported(errno)) {
            batch->gso_refused = 1;
            for (Py_ssize_t rest = index; rest < batch->count; rest++)
                batch->messages[rest].gso = 0;
            continue; /* sent one by one from now on */
        }
        if (owe(batch, message, 0) < 0)
            return -1;
        index++;
    }
    batch->count = 0;
    batch->used = 0;
    return 0;
}

/* Queues the `count` datagrams just written at out->base; sends the batch when it is full. */
static int batch_add(Output *out, Py_ssize_t end, Py_ssize_t count, int segment, int gso) {
    Batch *batch = out->batch;
    Message *message = &batch->messages[batch->count++];
    message->owner = out->owner;
    message->offset = (size_t)(out->base - lane_buffer);
    message->length = end;
    message->segment = segment;
    message->count = (int)count;
    message->gso = count > 1 && gso && !batch->gso_refused;
    message->address = out->address;
    message->address_length = out->address_length;
    batch->used += (size_t)end;
    out->base = lane_buffer + batch->used;
    if (batch->count == LANE_MESSAGES || LANE_BUFFER_BYTES - batch->used < GSO_MAX_BYTES) {
        if (batch_send(batch) < 0)
            return -1;
        out->base = lane_buffer;
        if (batch->owners[out->owner].failed)
            out->fd = -1; /* its socket is busy: the rest of this viewer's datagrams are owed */
    }
    return 0;
}

/* One lane entry: builds the frame's tuple for this viewer and queues its datagrams in
 * the batch (on socket `fd`). 0, or -1 with a Python error set when this entry could not
 * be sent (send_lane reports it and goes on with the others). */
static int send_to_entry(PyObject *entry, Py_ssize_t owner, int fd, protect_fn protect,
                         PyObject *payloads, unsigned long frame_timestamp,
                         unsigned long long ntp) {
    PyObject *address = PyList_GET_ITEM(entry, E_ADDRESS);
    PyObject *history = PyList_GET_ITEM(entry, E_HISTORY);
    if (!PyBytes_Check(address) || !PyList_Check(history) || PyList_GET_SIZE(history) == 0) {
        PyErr_SetString(PyExc_TypeError, "a lane entry holds bad items");
        return -1;
    }
    Sender sender = {protect, PyLong_AsVoidPtr(PyList_GET_ITEM(entry, E_CONTEXT)),
                     PyLong_AsLong(PyList_GET_ITEM(entry, E_MAX_SEGMENTS)),
                     PyLong_AsLong(PyList_GET_ITEM(entry, E_FIRST_BYTE)),
                     PyLong_AsLong(PyList_GET_ITEM(entry, E_PAYLOAD_TYPE)),
                     PyLong_AsUnsignedLong(PyList_GET_ITEM(entry, E_SSRC)), history};
    long sequence = PyLong_AsLong(PyList_GET_ITEM(entry, E_SEQUENCE));
    unsigned long origin = PyLong_AsUnsignedLong(PyList_GET_ITEM(entry, E_TIMESTAMP_ORIGIN));
    int abs_send_time = PyObject_IsTrue(PyList_GET_ITEM(entry, E_ABS_SEND_TIME));
    if (PyErr_Occurred())
        return -1;
    if (sender.context == NULL) {
        PyErr_SetString(PyExc_ValueError, "a lane entry has no SRTP context");
        return -1;
    }
    PyObject *prefix = PyList_GET_ITEM(entry, E_EXTENSION_PREFIX);
    PyObject *extensions;
    if (abs_send_time) {
        PyObject *suffix = PyList_GET_ITEM(entry, E_EXTENSION_SUFFIX);
        if (!PyBytes_Check(prefix) || !PyBytes_Check(suffix)) {
            PyErr_SetString(PyExc_TypeError, "extension blocks must be bytes");
            return -1;
        }
        Py_ssize_t before = PyBytes_GET_SIZE(prefix), after = PyBytes_GET_SIZE(suffix);
        extensions = PyBytes_FromStringAndSize(NULL, before + 3 + after);
        if (extensions == NULL)
            return -1;
        char *block = PyBytes_AS_STRING(extensions);
        uint32_t value = (uint32_t)((ntp >> 14) & 0xFFFFFF);
        memcpy(block, PyBytes_AS_STRING(prefix), (size_t)before);
        block[before] = (char)(value >> 16);
        block[before + 1] = (char)(value >> 8);
        block[before + 2] = (char)value;
        memcpy(block + before + 3, PyBytes_AS_STRING(suffix), (size_t)after);
    } else {
        extensions = prefix;
        Py_INCREF(extensions);
    }
    unsigned long timestamp = (origin + frame_timestamp) & 0xFFFFFFFFUL;
    PyObject *sent = Py_BuildValue("(lOkN)", sequence, payloads, timestamp, extensions);
    if (sent == NULL)
        return -1;
    Batch *batch = &lane_batch;
    Owner *state = &batch->owners[owner];
    Output out = {fd,
                  (const struct sockaddr *)PyBytes_AS_STRING(address),
                  (socklen_t)PyBytes_GET_SIZE(address),
                  0,
                  0,
                  &state->leftovers,
                  lane_buffer + batch->used,
                  batch,
                  owner};
    if (out.address_length == 0)
        out.fd = -1;
    if (out.fd < 0)
        state->failed = 1;
    Totals totals = {0, 0, 0};
    int status = pack_and_send(&out, &sender, &sent, 1, &totals);
    Py_DECREF(sent);
    if (status < 0)
        return -1;
    if (totals.packets) {
        Py_ssize_t packets = PyList_GET_SIZE(payloads);
        if (set_item(entry, E_SEQUENCE, PyLong_FromLong((sequence + packets) & 0xFFFF)) < 0 ||
            add_to_item(entry, E_PACKETS, totals.packets) < 0 ||
            add_to_item(entry, E_PAYLOAD_BYTES, totals.payload_bytes) < 0 ||
            add_to_item(entry, E_WIRE_BYTES, totals.wire_bytes) < 0 ||
            set_item(entry, E_LAST_NTP, PyLong_FromUnsignedLongLong(ntp)) < 0 ||
            set_item(entry, E_LAST_TIMESTAMP, PyLong_FromUnsignedLong(timestamp)) < 0)
            return -1;
    }
    return 0;
}

PyDoc_STRVAR(send_lane_doc,
"send_lane(protect, entries, payloads, frame_timestamp, ntp, failed) -> gso_refused\n\n"
"Sends one frame (its RTP payloads, shared) to every viewer of a lane: `entries` is a list\n"
"of lane entries (lists laid out as LANE_FIELDS), each updated in place (sequence number,\n"
"counters, NACK history). The datagrams of consecutive entries on one socket go out in\n"
"one sendmmsg per batch. An entry whose direct send failed is reported in `failed` as\n"
"(entry, leftovers), the datagrams it still owes, in order; an entry that could not be\n"
"sent at all (bad items, SRTP error) as (entry, exception), and the others are still sent.");

/* Appends (entry, the error now set) to `failed` and clears it; -1 when that fails. */
static int report_failed_entry(PyObject *entry, PyObject *failed) {
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    Py_XDECREF(type);
    Py_XDECREF(traceback);
    if (value == NULL)
        return -1;
    PyObject *pair = Py_BuildValue("(ON)", entry, value);
    if (pair == NULL)
        return -1;
    int appended = PyList_Append(failed, pair);
    Py_DECREF(pair);
    return appended;
}

/* The socket's descriptor (the one before, when it is the same socket: with a shared
 * port every entry has the one socket); -1 with a Python error set. */
static int entry_fd(PyObject *entry, PyObject **last_socket, int *last_fd) {
    PyObject *sock = PyList_GET_ITEM(entry, E_SOCKET);
    if (sock == *last_socket)
        return *last_fd;
    PyObject *fileno = PyObject_CallMethod(sock, "fileno", NULL);
    if (fileno == NULL)
        return -1;
    long fd = PyLong_AsLong(fileno);
    Py_DECREF(fileno);
    if (fd == -1 && PyErr_Occurred())
        return -1;
    *last_socket = sock;
    *last_fd = (int)fd;
    return (int)fd;
}

/* After the last send: each entry's GSO count, and the failed ones reported with what they
 * still owe (only while `status` is 0: no Python error set). Releases every owner's
 * leftovers. */
static int settle_owners(PyObject *entries, Owner *owners, Py_ssize_t count, PyObject *failed,
                         int status) {
    for (Py_ssize_t i = 0; i < count; i++) {
        Owner *owner = &owners[i];
        PyObject *entry = PyList_GET_ITEM(entries, i);
        if (status == 0 && !owner->errored && owner->segmented_sends &&
            add_to_item(entry, E_SEGMENTED_SENDS, owner->segmented_sends) < 0)
            status = -1;
        if (status == 0 && owner->failed && !owner->errored) {
            if (owner->leftovers == NULL && (owner->leftovers = PyList_New(0)) == NULL) {
                status = -1;
            } else {
                PyObject *pair = Py_BuildValue("(OO)", entry, owner->leftovers);
                if (pair == NULL || PyList_Append(failed, pair) < 0)
                    status = -1;
                Py_XDECREF(pair);
            }
        }
        Py_CLEAR(owner->leftovers);
    }
    return status;
}

static PyObject *send_lane(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "send_lane takes 6 arguments");
        return NULL;
    }
    protect_fn protect;
    if (read_protect(args[0], &protect) < 0)
        return NULL;
    PyObject *entries = args[1], *payloads = args[2], *failed = args[5];
    unsigned long frame_timestamp = PyLong_AsUnsignedLong(args[3]);
    unsigned long long ntp = PyLong_AsUnsignedLongLong(args[4]);
    if (PyErr_Occurred())
        return NULL;
    if (!PyList_Check(entries) || !PyList_Check(payloads) || !PyList_Check(failed)) {
        PyErr_SetString(PyExc_TypeError, "send_lane: bad arguments");
        return NULL;
    }
    if (lane_busy) {
        PyErr_SetString(PyExc_RuntimeError, "send_lane is not reentrant");
        return NULL;
    }
    Py_INCREF(entries);
    Py_ssize_t count = PyList_GET_SIZE(entries);
    Owner *owners = PyMem_Calloc((size_t)(count ? count : 1), sizeof(Owner));
    if (owners == NULL) {
        Py_DECREF(entries);
        return PyErr_NoMemory();
    }
    lane_busy = 1;
    Batch *batch = &lane_batch;
    batch->owners = owners;
    batch->count = 0;
    batch->used = 0;
    batch->gso_refused = 0;
    batch->fd = -1;
    PyObject *last_socket = NULL;
    int last_fd = -1, status = 0;
    for (Py_ssize_t i = 0; status == 0 && i < count; i++) {
        PyObject *entry = PyList_GET_ITEM(entries, i);
        int sent = -1;
        if (!PyList_Check(entry) || PyList_GET_SIZE(entry) != E_SIZE) {
            PyErr_SetString(PyExc_TypeError, "a lane entry is a list of LANE_FIELDS items");
        } else {
            int fd = entry_fd(entry, &last_socket, &last_fd);
            if (fd != -1 || !PyErr_Occurred()) {
                if (fd >= 0 && batch->count && fd != batch->fd && batch_send(batch) < 0)
                    status = -1; /* a Python error while sending: stop here */
                else {
                    if (fd >= 0)
                        batch->fd = fd;
                    sent = send_to_entry(entry, i, fd, protect, payloads, frame_timestamp, ntp);
                }
            }
        }
        if (status == 0 && sent < 0) {
            owners[i].failed = owners[i].errored = 1;
            if (report_failed_entry(entry, failed) < 0)
                status = -1;
        }
    }
    if (status == 0 && batch->count && batch_send(batch) < 0)
        status = -1;
    batch->count = 0;
    batch->used = 0;
    status = settle_owners(entries, owners, count, failed, status);
    int gso_refused = batch->gso_refused;
    batch->owners = NULL;
    PyMem_Free(owners);
    lane_busy = 0;
    Py_DECREF(entries);
    if (status < 0)
        return NULL;
    return PyBool_FromLong(gso_refused);
}

static PyMethodDef methods[] = {
    {"send_frames", (PyCFunction)(void (*)(void))send_frames, METH_FASTCALL, send_frames_doc},
    {"send_lane", (PyCFunction)(void (*)(void))send_lane, METH_FASTCALL, send_lane_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "streamer.forwarding._fastsend",
    "RTP packing, SRTP protection and UDP GSO sending of forwarded frames, in C.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastsend(void) {
    PyObject *created = PyModule_Create(&module);
    if (created == NULL)
        return NULL;
    PyObject *names = PyTuple_New(E_SIZE);
    if (names == NULL) {
        Py_DECREF(created);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < E_SIZE; i++) {
        PyObject *name = PyUnicode_FromString(lane_field_names[i]);
        if (name == NULL) {
            Py_DECREF(names);
            Py_DECREF(created);
            return NULL;
        }
        PyTuple_SET_ITEM(names, i, name);
    }
    if (PyModule_AddObject(created, "LANE_FIELDS", names) < 0) {
        Py_DECREF(names);
        Py_DECREF(created);
        return NULL;
    }
    return created;
}
