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
#include "_fastsend.h"

#include <string.h>

PyDoc_STRVAR(send_frames_doc,
"send_frames(protect, context, fd, address, max_segments, first_byte, payload_type, ssrc,\n"
"            frames, history, leftovers)\n"
"    -> (packets, wire_bytes, payload_bytes, segmented_sends, gso_refused)\n\n"
"protect: address of libsrtp's srtp_protect (context: the srtp_t's address) or of\n"
"_srtpgcm's protect (context: a GcmSession's address).\n"
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
    if (fs_read_protect(args[0], &sender.protect) < 0)
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
                  &leftovers, fs_buffer,
                  NULL,       0};
    if (out.address_length == 0)
        out.fd = -1;
    Totals totals = {0, 0, 0};
    PyObject *frames = args[8];
    if (fs_pack_and_send(&out, &sender, &PyList_GET_ITEM(frames, 0), PyList_GET_SIZE(frames),
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
    X(PROTECT, "protect")                                                                     \
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

static int lane_busy; /* send_lane is not reentrant (one static batch) */

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
    /* The entry's own protect function (libsrtp's or _srtpgcm's), else the call's. */
    void *own = PyLong_AsVoidPtr(PyList_GET_ITEM(entry, E_PROTECT));
    if (own != NULL)
        protect = (protect_fn)own;
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
    Batch *batch = &fs_lane_batch;
    Owner *state = &batch->owners[owner];
    Output out = {fd,
                  (const struct sockaddr *)PyBytes_AS_STRING(address),
                  (socklen_t)PyBytes_GET_SIZE(address),
                  0,
                  0,
                  &state->leftovers,
                  fs_lane_buffer + batch->used,
                  batch,
                  owner};
    if (out.address_length == 0)
        out.fd = -1;
    if (out.fd < 0)
        state->failed = 1;
    Totals totals = {0, 0, 0};
    int status = fs_pack_and_send(&out, &sender, &sent, 1, &totals);
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
    if (fs_read_protect(args[0], &protect) < 0)
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
    Batch *batch = &fs_lane_batch;
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
                if (fd >= 0 && batch->count && fd != batch->fd && fs_batch_send(batch) < 0)
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
    if (status == 0 && batch->count && fs_batch_send(batch) < 0)
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
