#include "clicommand.h"

#include <cstdio>

namespace ts::cli {

const std::vector<CliCommand> &allCommands() {
    static const std::vector<CliCommand> commands = {
        inspectCommand(),   modelCommand(),      tokenizeCommand(),   convertCommand(),
        embedTextCommand(), embedImageCommand(), itmCommand(),        fillMaskCommand(),
        describeCommand(),  indexCommand(),      searchCommand(),     similarCommand(),
        statusCommand(),    forgetCommand(),     duplicatesCommand(), rootsCommand(),
    };
    return commands;
}

void out(const QString &text) {
    const QByteArray bytes = text.toUtf8();
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stdout);
    std::fflush(stdout);
}

void err(const QString &text) {
    const QByteArray bytes = text.toUtf8();
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stderr);
    std::fflush(stderr);
}

int parseOrExit(QCommandLineParser &parser, const QStringList &args, const QString &description) {
    parser.setApplicationDescription(description);
    const QCommandLineOption help({QStringLiteral("h"), QStringLiteral("help")},
                                  QStringLiteral("Show this help."));
    parser.addOption(help);
    if (!parser.parse(args)) {
        err(QStringLiteral("towersearch-cli %1: %2\n").arg(args.value(0), parser.errorText()));
        return kExitUsage;
    }
    if (parser.isSet(help)) {
        out(parser.helpText());
        return kExitOk;
    }
    return -1;
}

int usageError(const QString &command, const QString &message) {
    err(QStringLiteral("towersearch-cli %1: %2\n").arg(command, message));
    return kExitUsage;
}

Result<int> positiveIntOption(const QCommandLineParser &parser, const QCommandLineOption &option,
                              int fallback) {
    if (!parser.isSet(option))
        return fallback;
    bool ok = false;
    const int value = parser.value(option).toInt(&ok);
    if (!ok || value < 1)
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("--%1 needs a positive number").arg(option.names().first()));
    return value;
}

int reportError(const ts::Error &error) {
    err(QStringLiteral("towersearch-cli: %1\n").arg(error.message));
    switch (error.code) {
    case Error::Code::InvalidArgument:
        return kExitUsage;
    case Error::Code::Model:
        return kExitModel;
    case Error::Code::NotFound:
    case Error::Code::Format:
    case Error::Code::Unsupported:
        return kExitInput;
    default:
        return kExitFailure;
    }
}

} // namespace ts::cli
