#include "clicommand.h"

#include "core/model/bridgetowerconfig.h"

#include <QDir>

namespace ts::cli {

static int runInspect(const QStringList &args) {
    QCommandLineParser parser;
    const QCommandLineOption modelOpt(QStringLiteral("model"), QStringLiteral("Checkpoint folder."), QStringLiteral("DIR"));
    parser.addOption(modelOpt);
    if (int code = parseOrExit(parser, args, QStringLiteral("Load a checkpoint and print its architecture.")); code >= 0)
        return code;
    if (!parser.isSet(modelOpt)) {
        err(QStringLiteral("towersearch-cli inspect: --model DIR is required\n"));
        return kExitUsage;
    }
    const QString dir = parser.value(modelOpt);
    auto config = BridgeTowerConfig::load(QDir(dir).filePath(QStringLiteral("config.json")));
    if (!config)
        return reportError(config.error());
    out(config->describe() + QLatin1Char('\n'));
    if (Status s = config->validate(); !s)
        return reportError(s.error().withContext(dir));
    return kExitOk;
}

CliCommand inspectCommand() {
    return {QStringLiteral("inspect"), QStringLiteral("Load a checkpoint and print its architecture, size and heads."),
            runInspect};
}

} // namespace ts::cli
