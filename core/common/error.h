#pragma once

#include <QString>

namespace ts {

// What went wrong, in a sentence a user can act on. `code` lets callers (and the CLI's exit codes)
// tell the broad kind of failure apart without parsing the message.
struct Error {
    enum class Code {
        InvalidArgument, // the caller passed something unusable (usage error)
        NotFound,        // a file or key that should exist does not
        Io,              // reading or writing failed
        Format,          // a file exists but its content is malformed
        Unsupported,     // well-formed, but something this program does not handle
        Model,           // a checkpoint is unusable: missing/mis-shaped weights, bad config
        Cancelled,       // the operation was cancelled by the user
        Internal,        // a bug or an unexpected library failure
    };

    Code code = Code::Internal;
    QString message;

    Error() = default;
    Error(Code c, QString msg) : code(c), message(std::move(msg)) {}

    // Adds context in front of the message: "loading model X: <message>".
    Error withContext(const QString &context) const {
        return Error(code, context + QStringLiteral(": ") + message);
    }
};

} // namespace ts
