#include "clicommand.h"

#include "core/model/checkpointconverter.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>

namespace ts::cli {

static int runConvert(const QStringList &args) {
    QCommandLineParser parser;
    const QCommandLineOption modelOpt(
        QStringLiteral("model"), QStringLiteral("Checkpoint folder holding pytorch_model.bin."),
        QStringLiteral("DIR"));
    const QCommandLineOption outputOpt(
        QStringLiteral("output"),
        QStringLiteral("Where to write (default: DIR/model.safetensors)."), QStringLiteral("FILE"));
    const QCommandLineOption forceOpt(QStringLiteral("force"),
                                      QStringLiteral("Replace an existing output file."));
    parser.addOption(modelOpt);
    parser.addOption(outputOpt);
    parser.addOption(forceOpt);
    if (int code = parseOrExit(
            parser, args,
            QStringLiteral(
                "Convert DIR/pytorch_model.bin (torch.save format) to model.safetensors, once.\n"
                "Only tensors are read from the pickle; nothing in it is executed."));
        code >= 0)
        return code;
    if (!parser.isSet(modelOpt)) {
        err(QStringLiteral("towersearch-cli convert: --model DIR is required\n"));
        return kExitUsage;
    }
    const QDir dir(parser.value(modelOpt));
    const QString bin = dir.filePath(QStringLiteral("pytorch_model.bin"));
    const QString output = parser.isSet(outputOpt)
                               ? parser.value(outputOpt)
                               : dir.filePath(QStringLiteral("model.safetensors"));
    if (!QFileInfo::exists(bin))
        return reportError(
            Error(Error::Code::NotFound, QStringLiteral("%1: file not found").arg(bin)));
    if (QFileInfo::exists(output) && !parser.isSet(forceOpt))
        return reportError(
            Error(Error::Code::InvalidArgument,
                  QStringLiteral("%1 already exists; pass --force to replace it").arg(output)));

    QElapsedTimer timer;
    timer.start();
    qint64 lastShown = -1000;
    const Status s = convertTorchBinToSafetensors(bin, output, [&](qint64 done, qint64 total) {
        // At most ~10 updates a second, and always the last one.
        if (done != total && timer.elapsed() - lastShown < 100)
            return;
        lastShown = timer.elapsed();
        const double mib = 1024.0 * 1024.0;
        err(QStringLiteral("\rconverting: %1 / %2 MiB (%3%)")
                .arg(double(done) / mib, 0, 'f', 1)
                .arg(double(total) / mib, 0, 'f', 1)
                .arg(total > 0 ? 100 * done / total : 100));
    });
    if (lastShown >= 0)
        err(QStringLiteral("\n"));
    if (!s)
        return reportError(s.error());
    out(QStringLiteral("wrote %1 (%2 MiB) in %3 s\n")
            .arg(output)
            .arg(double(QFileInfo(output).size()) / (1024.0 * 1024.0), 0, 'f', 1)
            .arg(double(timer.elapsed()) / 1000.0, 0, 'f', 1));
    return kExitOk;
}

CliCommand convertCommand() {
    return {QStringLiteral("convert"),
            QStringLiteral("Convert a checkpoint's pytorch_model.bin to model.safetensors."),
            runConvert};
}

} // namespace ts::cli
