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
/// It announces the `connection.blocked` capability, so the broker says when a resource alarm
/// stops it reading this connection (and when that ends), and names the connection
/// (`connection_name`, shown in the management UI) when `connection_name` is not NULL.
/// rabbitmq-c merges the capabilities table with its own and sends it during the call.
static inline amqp_rpc_reply_t ordersaga_amqp_login_plain(amqp_connection_state_t state,
                                                          const char *vhost,
                                                          int channel_max,
                                                          int frame_max,
                                                          int heartbeat,
                                                          const char *connection_name,
                                                          const char *user,
                                                          const char *password) {
    amqp_table_entry_t capabilities[1];
    capabilities[0].key = amqp_cstring_bytes("connection.blocked");
    capabilities[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capabilities[0].value.value.boolean = 1;
    amqp_table_entry_t entries[2];
    entries[0].key = amqp_cstring_bytes("capabilities");
    entries[0].value.kind = AMQP_FIELD_KIND_TABLE;
    entries[0].value.value.table.num_entries = 1;
    entries[0].value.value.table.entries = capabilities;
    int count = 1;
    if (connection_name != NULL) {
        entries[1].key = amqp_cstring_bytes("connection_name");
        entries[1].value.kind = AMQP_FIELD_KIND_UTF8;
        entries[1].value.value.bytes = amqp_cstring_bytes(connection_name);
        count = 2;
    }
    amqp_table_t properties;
    properties.num_entries = count;
    properties.entries = entries;
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, &properties,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}

#endif
