/* The sendmmsg batch of send_lane (_fastsend.c): every lane viewer's datagrams of a frame
 * are written into one large buffer and queued as messages, one per viewer and GSO batch
 * (each with its own destination and UDP_SEGMENT), then sent in as few sendmmsg calls as
 * the kernel takes. A viewer whose message is refused owes the rest of its datagrams. */
#include "_fastsend.h"

#include <errno.h>
#include <string.h>

unsigned char fs_lane_buffer[LANE_BUFFER_BYTES];
Batch fs_lane_batch;

/* What `message` still owes from byte `from` on goes to its owner's leftovers. */
static int owe(Batch *batch, const Message *message, Py_ssize_t from) {
    Owner *owner = &batch->owners[message->owner];
    owner->failed = 1;
    return fs_append_leftovers(&owner->leftovers, fs_lane_buffer + message->offset + from,
                            message->length - from, message->segment);
}

/* A GSO message the kernel would not take: its datagrams one by one. */
static int send_one_by_one(Batch *batch, const Message *message) {
    for (Py_ssize_t start = 0; start < message->length; start += message->segment) {
        Py_ssize_t rest = message->length - start;
        size_t length = (size_t)(rest < message->segment ? rest : message->segment);
        ssize_t sent;
        do {
            sent = sendto(batch->fd, fs_lane_buffer + message->offset + start, length, 0,
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
    batch->vectors[index].iov_base = fs_lane_buffer + message->offset;
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
int fs_batch_send(Batch *batch) {
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
        if (message->gso && fs_gso_unsupported(errno)) {
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
int fs_batch_add(Output *out, Py_ssize_t end, Py_ssize_t count, int segment, int gso) {
    Batch *batch = out->batch;
    Message *message = &batch->messages[batch->count++];
    message->owner = out->owner;
    message->offset = (size_t)(out->base - fs_lane_buffer);
    message->length = end;
    message->segment = segment;
    message->count = (int)count;
    message->gso = count > 1 && gso && !batch->gso_refused;
    message->address = out->address;
    message->address_length = out->address_length;
    batch->used += (size_t)end;
    out->base = fs_lane_buffer + batch->used;
    if (batch->count == LANE_MESSAGES || LANE_BUFFER_BYTES - batch->used < GSO_MAX_BYTES) {
        if (fs_batch_send(batch) < 0)
            return -1;
        out->base = fs_lane_buffer;
        if (batch->owners[out->owner].failed)
            out->fd = -1; /* its socket is busy: the rest of this viewer's datagrams are owed */
    }
    return 0;
}
