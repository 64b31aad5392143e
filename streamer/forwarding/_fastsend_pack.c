/* Packing, SRTP protection and sending of one viewer's datagrams (the core of both
 * send_frames and send_lane in _fastsend.c): RTP headers from the viewer's fields, the
 * frame's shared payloads, libsrtp's srtp_protect in place, then UDP GSO batches of
 * equal-sized datagrams (or one sendto each), or, for send_lane, the sendmmsg batch. */
#include "_fastsend.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

unsigned char fs_buffer[GSO_MAX_BYTES];

int fs_gso_unsupported(int error) {
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
    if (fs_gso_unsupported(errno))
        out->gso_refused = 1;
    return 0;
}

int fs_append_leftovers(PyObject **slot, const unsigned char *data, Py_ssize_t size,
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
        return fs_batch_add(out, end, count, segment, gso);
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
    return fs_append_leftovers(out->leftovers, out->base + start, end - start, segment);
}

static void put32(unsigned char *at, uint32_t value) {
    at[0] = (unsigned char)(value >> 24);
    at[1] = (unsigned char)(value >> 16);
    at[2] = (unsigned char)(value >> 8);
    at[3] = (unsigned char)value;
}

int fs_pack_and_send(Output *out, const Sender *sender, PyObject *const *frames,
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

int fs_read_protect(PyObject *address, protect_fn *protect) {
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
