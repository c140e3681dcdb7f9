#ifndef ORDERSAGA_CLIBPQ_SHIM_H
#define ORDERSAGA_CLIBPQ_SHIM_H

#include <libpq-fe.h>
#include <poll.h>

/// `PG_DIAG_SQLSTATE` is a character-literal macro that Swift does not import.
static const int ordersaga_pg_diag_sqlstate = PG_DIAG_SQLSTATE;
static const int ordersaga_pg_diag_message_primary = PG_DIAG_MESSAGE_PRIMARY;
static const int ordersaga_pg_diag_message_detail = PG_DIAG_MESSAGE_DETAIL;

#endif
