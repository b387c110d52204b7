#include "clicommand.h"
#include "modeloptions.h"

#include "core/model/bridgetowermodel.h"

#include <QDir>
#include <QElapsedTimer>

namespace ts::cli {

static QString headNames(unsigned heads) {
    QStringList names;
    if (heads & kHeadContrastive)
        names << QStringLiteral("contrastive (search)");
    if (heads & kHeadImageTextMatching)
        names << QStringLiteral("image-text matching (rerank)");
    if (heads & kHeadMaskedLm)
        names << QStringLiteral("masked LM (fill-mask)");
    return names.isEmpty() ? QStringLiteral("none") : names.join(QStringLiteral(", "));
}

static int runInspect(const QStringList &args) {
    QCommandLineParser parser;
    const QCommandLineOption modelOpt(QStringLiteral("model"), QStringLiteral("Checkpoint folder."),
                                      QStringLiteral("DIR"));
    const QCommandLineOption threadsOpt(QStringLiteral("threads"),
                                        QStringLiteral("LibTorch threads."), QStringLiteral("N"));
    const ModelOptions common; // for --precision / --bf16
    parser.addOption(modelOpt);
    parser.addOption(threadsOpt);
    parser.addOptions({common.precision, common.bf16});
    if (int code = parseOrExit(parser, args,
                               QStringLiteral("Load a checkpoint and print its architecture, size, "
                                              "heads and any problem found."));
        code >= 0)
        return code;
    if (!parser.isSet(modelOpt)) {
        err(QStringLiteral("towersearch-cli inspect: --model DIR is required\n"));
        return kExitUsage;
    }
    if (parser.isSet(threadsOpt))
        BridgeTowerModel::setThreadCount(parser.value(threadsOpt).toInt());
    int exitCode = kExitOk;
    const auto precision = common.precisionChoice(parser, QStringLiteral("inspect"), exitCode);
    if (!precision)
        return exitCode;
    const QString dir = parser.value(modelOpt);
    QElapsedTimer timer;
    timer.start();
    ModelLoadOptions options;
    options.precision = precision->precision;
    auto model = BridgeTowerModel::load(dir, options);
    if (!model)
        return reportError(model.error());
    const BridgeTowerModel &m = **model;
    const ModelInfo &info = m.info();
    QString text;
    text += QStringLiteral("model:      %1\n").arg(info.directory);
    text += QStringLiteral("weights:    %1 (%2), loaded in %3 ms\n")
                .arg(info.weightsFile, info.storedDtypes)
                .arg(timer.elapsed());
    text += QStringLiteral("parameters: %1\n").arg(info.parameterCount);
    text += QStringLiteral("heads:      %1\n").arg(headNames(info.heads));
    for (const QString &line : m.config().describe().split(QLatin1Char('\n')))
        text += QStringLiteral("            %1\n").arg(line);
    text += QStringLiteral("max text:   %1 tokens\n").arg(m.maxTextTokens());
    text += QStringLiteral("runtime:    %1\n").arg(BridgeTowerModel::runtimeInfo());
    text += QStringLiteral("precision:  %1\n").arg(precision->reason);
    for (const QString &p : info.headProblems)
        text += QStringLiteral("problem:    %1\n").arg(p);
    if (!(info.heads & kHeadContrastive))
        text += QStringLiteral("note:       without the contrastive head this checkpoint cannot "
                               "index or search photos\n");
    if (!info.unusedKeys.isEmpty()) {
        text += QStringLiteral("unused:     %1 tensor(s) the model never reads (ignored, as "
                               "Hugging Face ignores unexpected keys):\n")
                    .arg(info.unusedKeys.size());
        for (const QString &key : info.unusedKeys)
            text += QStringLiteral("            %1\n").arg(key);
    }
    out(text);
    return kExitOk;
}

CliCommand inspectCommand() {
    return {QStringLiteral("inspect"),
            QStringLiteral("Load a checkpoint and print its architecture, size and heads."),
            runInspect};
}

} // namespace ts::cli
