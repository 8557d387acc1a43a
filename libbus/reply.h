/*
 * reply.h - what the consumer handle asks of the service's side of calls
 * (reply.c, bus_reply): the reply queues it has answered into, kept by
 * the consumer (consumer_replier, handle.h) and freed with it.
 */
#ifndef BUS_REPLY_H
#define BUS_REPLY_H

struct replier;

/*
 * Closes r's reply queues and its connection to busd, and frees r
 * (r NULL: nothing).
 */
void reply_free(struct replier *r);

#endif
