/* AEAD-AES-GCM SRTP protection (RFC 7714) with one prepared OpenSSL context per viewer
 * session: the key schedule is done once, each packet only sets its 12-byte IV
 * (session salt XOR 00 00 || SSRC || ROC || SEQ), feeds its header as AAD, encrypts its
 * payload in place and appends the 16-byte tag. The rollover counter of each SSRC is
 * estimated from the sequence number as libsrtp's sender does (RFC 3711, appendix A).
 *
 * `protect` has the signature of libsrtp's srtp_protect, so the C forwarding path
 * (_fastsend) takes either: PROTECT_ADDRESS with a GcmSession's `address`. Session keys
 * come from streamer.aiortc.srtp (the SRTP KDF, in Python: once per session). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#define TAG_BYTES 16
#define SALT_BYTES 12
#define MAX_STREAMS 8
#define SEQ_HALF 0x8000u

typedef struct {
    uint32_t ssrc;
    uint32_t roc;
    uint16_t seq;
    int used;
} Stream;

typedef struct {
    EVP_CIPHER_CTX *cipher;
    unsigned char salt[SALT_BYTES];
    Stream streams[MAX_STREAMS];
} Context;

typedef struct {
    PyObject_HEAD
    Context context;
} GcmSession;

/* The packet's rollover counter; advances the stream's (roc, seq) when it is newer. */
static uint32_t estimate_roc(Stream *stream, uint16_t seq) {
    uint32_t roc = stream->roc;
    uint16_t last = stream->seq;
    uint32_t guess = roc;
    if (last < SEQ_HALF) {
        if ((uint32_t)seq - last > SEQ_HALF && roc > 0)
            guess = roc - 1;
    } else if ((uint32_t)last - SEQ_HALF > seq) {
        guess = roc + 1;
    }
    if (guess > roc || (guess == roc && seq > last)) {
        stream->roc = guess;
        stream->seq = seq;
    }
    return guess;
}

static Stream *find_stream(Context *context, uint32_t ssrc, uint16_t seq) {
    for (int i = 0; i < MAX_STREAMS; i++) {
        Stream *stream = &context->streams[i];
        if (stream->used && stream->ssrc == ssrc)
            return stream;
        if (!stream->used) {
            stream->used = 1;
            stream->ssrc = ssrc;
            stream->roc = 0;
            stream->seq = seq;
            return stream;
        }
    }
    return NULL;
}

/* 0 on success (like srtp_err_status_ok); the packet grows by TAG_BYTES. */
static int protect(void *opaque, void *packet, int *length) {
    Context *context = opaque;
    unsigned char *p = packet;
    int size = *length, header, written;
    if (size < 12 || (p[0] >> 6) != 2)
        return 1;
    header = 12 + 4 * (p[0] & 0x0F);
    if (p[0] & 0x10) {
        if (size < header + 4)
            return 1;
        header += 4 + 4 * ((p[header + 2] << 8) | p[header + 3]);
    }
    if (size < header)
        return 1;
    uint16_t seq = (uint16_t)((p[2] << 8) | p[3]);
    uint32_t ssrc = ((uint32_t)p[8] << 24) | ((uint32_t)p[9] << 16) | ((uint32_t)p[10] << 8) | p[11];
    Stream *stream = find_stream(context, ssrc, seq);
    if (stream == NULL)
        return 1;
    uint32_t roc = estimate_roc(stream, seq);
    unsigned char iv[SALT_BYTES] = {0, 0, p[8], p[9], p[10], p[11],
                                    (unsigned char)(roc >> 24), (unsigned char)(roc >> 16),
                                    (unsigned char)(roc >> 8), (unsigned char)roc, p[2], p[3]};
    for (int i = 0; i < SALT_BYTES; i++)
        iv[i] ^= context->salt[i];
    EVP_CIPHER_CTX *cipher = context->cipher;
    if (EVP_EncryptInit_ex(cipher, NULL, NULL, NULL, iv) != 1 ||
        EVP_EncryptUpdate(cipher, NULL, &written, p, header) != 1 ||
        (size > header && EVP_EncryptUpdate(cipher, p + header, &written, p + header,
                                            size - header) != 1) ||
        EVP_EncryptFinal_ex(cipher, p + size, &written) != 1 ||
        EVP_CIPHER_CTX_ctrl(cipher, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, p + size) != 1)
        return 1;
    *length = size + TAG_BYTES;
    return 0;
}

static PyObject *session_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"key", "salt", NULL};
    Py_buffer key, salt;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*y*", names, &key, &salt))
        return NULL;
    const EVP_CIPHER *kind = key.len == 16 ? EVP_aes_128_gcm() : key.len == 32 ? EVP_aes_256_gcm() : NULL;
    GcmSession *self = NULL;
    if (kind == NULL || salt.len != SALT_BYTES) {
        PyErr_SetString(PyExc_ValueError, "key must be 16 or 32 bytes and salt 12");
        goto done;
    }
    self = (GcmSession *)type->tp_alloc(type, 0);
    if (self == NULL)
        goto done;
    self->context.cipher = EVP_CIPHER_CTX_new();
    memcpy(self->context.salt, salt.buf, SALT_BYTES);
    if (self->context.cipher == NULL ||
        EVP_EncryptInit_ex(self->context.cipher, kind, NULL, key.buf, NULL) != 1) {
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL refused the AES-GCM key");
        Py_CLEAR(self);
    }
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&salt);
    return (PyObject *)self;
}

static void session_dealloc(GcmSession *self) {
    EVP_CIPHER_CTX_free(self->context.cipher);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *session_protect(GcmSession *self, PyObject *arg) {
    Py_buffer packet;
    if (PyObject_GetBuffer(arg, &packet, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, packet.len + TAG_BYTES);
    if (out != NULL) {
        int length = (int)packet.len;
        memcpy(PyBytes_AS_STRING(out), packet.buf, packet.len);
        if (protect(&self->context, PyBytes_AS_STRING(out), &length) != 0) {
            PyErr_SetString(PyExc_ValueError, "not an RTP packet this session can protect");
            Py_CLEAR(out);
        }
    }
    PyBuffer_Release(&packet);
    return out;
}

static PyObject *session_address(GcmSession *self, void *closure) {
    return PyLong_FromVoidPtr(&self->context);
}

static PyMethodDef session_methods[] = {
    {"protect", (PyCFunction)session_protect, METH_O,
     "protect(packet) -> bytes: the packet SRTP-protected (advances its SSRC's state)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef session_getset[] = {
    {"address", (getter)session_address, NULL,
     "The context's address: PROTECT_ADDRESS's first argument (valid while this lives).",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject GcmSessionType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "streamer.forwarding._srtpgcm.GcmSession",
    .tp_basicsize = sizeof(GcmSession),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "GcmSession(key, salt): SRTP AEAD-AES-GCM sender state of one session "
              "(session key and salt).",
    .tp_new = session_new,
    .tp_dealloc = (destructor)session_dealloc,
    .tp_methods = session_methods,
    .tp_getset = session_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_srtpgcm", "SRTP AEAD-AES-GCM protection on OpenSSL.", -1, NULL,
};

PyMODINIT_FUNC PyInit__srtpgcm(void) {
    if (PyType_Ready(&GcmSessionType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&GcmSessionType);
    if (PyModule_AddObject(m, "GcmSession", (PyObject *)&GcmSessionType) < 0) {
        Py_DECREF(&GcmSessionType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddObject(m, "PROTECT_ADDRESS", PyLong_FromVoidPtr((void *)protect)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
