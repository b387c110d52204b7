#pragma once

// Where a library's catalog lives: a file path (SQLite) or a PostgreSQL URL
// ("postgresql://alice@nas/photos", "postgres:///lib?host=/run/postgresql"; libpq's connection
// URI). What the CLI (--db, $TOWERSEARCH_DB), the app's setting and LibraryOptions::databasePath
// take. Pure string work: nothing here connects or touches a file, so the front ends can check a
// location before they open anything, and every message can show it without its password.

#include "core/common/result.h"

#include <QString>

namespace ts {

// True when `location` is a PostgreSQL URL (starts with "postgresql://" or "postgres://", as
// libpq requires, lower case); anything else is a file path.
bool isDatabaseUrl(const QString &location);

// The location as messages show it: a URL's password (in "user:password@" or a "password="
// parameter) replaced by "***"; a file path unchanged.
QString redactedLocation(const QString &location);

// Checks a URL as libpq parses it, before anything connects: an InvalidArgument error whose
// message names the redacted URL and what is wrong ("invalid port number", "invalid URI query
// parameter", ...). A file path always passes (opening it says what is wrong with it).
Status checkLocationSyntax(const QString &location);

} // namespace ts
