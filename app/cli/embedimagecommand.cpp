#include "clicommand.h"
#include "jsonoutput.h"
#include "modeloptions.h"

namespace ts::cli {

static int runEmbedImage(const QStringList &args) {
    QCommandLineParser parser;
    ModelOptions common;
    common.addTo(parser);
    parser.addPositionalArgument(QStringLiteral("FILE"), QStringLiteral("Photos to embed."),
                                 QStringLiteral("FILE..."));
    if (int code =
            parseOrExit(parser, args,
                        QStringLiteral("Print the contrastive (search) embedding of each photo."));
        code >= 0)
        return code;
    const QStringList files = parser.positionalArguments();
    if (files.isEmpty()) {
        err(QStringLiteral("towersearch-cli embed-image: give at least one FILE\n"));
        return kExitUsage;
    }
    int exitCode = kExitOk;
    auto pipeline = common.load(parser, QStringLiteral("embed-image"), kHeadContrastive, exitCode);
    if (!pipeline)
        return exitCode;
    nlohmann::json images = nlohmann::json::array();
    for (const QString &file : files) {
        auto pixels = pipeline->loadPixels(file);
        if (!pixels) {
            err(QStringLiteral("towersearch-cli: %1\n").arg(pixels.error().message));
            return kExitInput;
        }
        auto embed = pipeline->embedImages(*pixels);
        if (!embed)
            return reportError(embed.error());
        if (parser.isSet(common.json)) {
            images.push_back({{"file", toJson(file)}, {"embedding", rowToJson(*embed, 0)}});
        } else {
            QStringList values;
            for (float v : embed->data)
                values << QString::number(v, 'g', 9);
            out(QStringLiteral("%1\t%2\n").arg(file, values.join(QLatin1Char(' '))));
        }
    }
    if (parser.isSet(common.json))
        printJson({{"model", toJson(pipeline->modelKey())},
                   {"dimension", pipeline->model().embeddingDimension()},
                   {"logit_scale", pipeline->model().logitScale()},
                   {"images", images}});
    return kExitOk;
}

CliCommand embedImageCommand() {
    return {QStringLiteral("embed-image"), QStringLiteral("Print the search embedding of photos."),
            runEmbedImage};
}

} // namespace ts::cli
