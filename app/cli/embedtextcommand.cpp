#include "clicommand.h"
#include "jsonoutput.h"
#include "modeloptions.h"

namespace ts::cli {

static int runEmbedText(const QStringList &args) {
    QCommandLineParser parser;
    ModelOptions common;
    common.addTo(parser);
    parser.addPositionalArgument(QStringLiteral("TEXT"), QStringLiteral("Captions to embed."),
                                 QStringLiteral("TEXT..."));
    if (int code = parseOrExit(
            parser, args,
            QStringLiteral("Print the contrastive (search) embedding of each caption."));
        code >= 0)
        return code;
    const QStringList texts = parser.positionalArguments();
    if (texts.isEmpty()) {
        err(QStringLiteral("towersearch-cli embed-text: give at least one TEXT\n"));
        return kExitUsage;
    }
    int exitCode = kExitOk;
    auto pipeline = common.load(parser, QStringLiteral("embed-text"), kHeadContrastive, exitCode);
    if (!pipeline)
        return exitCode;
    const TokenBatch tokens = pipeline->tokenize(texts);
    auto embeds = pipeline->model().embedText(tokens);
    if (!embeds)
        return reportError(embeds.error());
    if (parser.isSet(common.json)) {
        nlohmann::json j;
        j["model"] = toJson(pipeline->modelKey());
        j["dimension"] = embeds->dim(1);
        j["logit_scale"] = pipeline->model().logitScale();
        j["texts"] = nlohmann::json::array();
        for (qsizetype i = 0; i < texts.size(); ++i) {
            std::vector<int64_t> ids;
            for (int64_t t = 0; t < tokens.seqLength; ++t)
                if (tokens.attentionMask[size_t(i * tokens.seqLength + t)])
                    ids.push_back(tokens.inputIds[size_t(i * tokens.seqLength + t)]);
            j["texts"].push_back({{"text", toJson(texts[i])},
                                  {"input_ids", ids},
                                  {"embedding", rowToJson(*embeds, i)}});
        }
        printJson(j);
    } else {
        for (qsizetype i = 0; i < texts.size(); ++i) {
            QStringList values;
            for (float v : rowToJson(*embeds, i).get<std::vector<float>>())
                values << QString::number(v, 'g', 9);
            out(QStringLiteral("%1\t%2\n").arg(texts[i], values.join(QLatin1Char(' '))));
        }
    }
    return kExitOk;
}

CliCommand embedTextCommand() {
    return {QStringLiteral("embed-text"), QStringLiteral("Print the search embedding of captions."),
            runEmbedText};
}

} // namespace ts::cli
