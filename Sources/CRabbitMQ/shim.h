#ifndef ORDERSAGA_CRABBITMQ_SHIM_H
#define ORDERSAGA_CRABBITMQ_SHIM_H

// Debian's rabbitmq-c 0.11 puts its headers at the top of the include path; 0.12+ uses rabbitmq-c/.
#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/framing.h>
#include <rabbitmq-c/tcp_socket.h>
#else
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#endif

#include <poll.h>
#include <sys/time.h>

/// `amqp_login` is variadic, which Swift cannot call: a plain-password login with fixed arguments.
static inline amqp_rpc_reply_t ordersaga_amqp_login_plain(amqp_connection_state_t state,
                                                          const char *vhost,
                                                          int channel_max,
                                                          int frame_max,
                                                          int heartbeat,
                                                          const char *user,
                                                          const char *password) {
    return amqp_login(state, vhost, channel_max, frame_max, heartbeat, AMQP_SASL_METHOD_PLAIN, user, password);
}

#endif
