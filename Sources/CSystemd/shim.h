// libsystemd, as Debian's libsystemd-dev installs it: sd_notify and the watchdog, socket
// activation (sd-daemon.h), and the native journal protocol (sd-journal.h; only sd_journal_sendv
// is usable from Swift, the variadic sd_journal_send is not).
#ifndef INCIDENTLOG_CSYSTEMD_SHIM_H
#define INCIDENTLOG_CSYSTEMD_SHIM_H

#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#endif
