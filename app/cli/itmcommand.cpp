#include "clicommand.h"
#include "jsonoutput.h"
#include "modeloptions.h"

namespace ts::cli {

static int runItm(const QStringList &args) {
    QCommandLineParser parser;
    ModelOptions common;
    common.addTo(parser);
    parser.addPositionalArgument(QStringLiteral("FILE"), QStringLiteral("A photo."));
    parser.addPositionalArgument(QStringLiteral("TEXT"),
                                 QStringLiteral("Captions to match against it."),
                                 QStringLiteral("TEXT..."));
    if (int code = parseOrExit(
            parser, args,
            QStringLiteral(
                "Score how well each caption matches a photo (image-text matching head)."));
        code >= 0)
        return code;
    const QStringList positional = parser.positionalArguments();
    if (positional.size() < 2) {
        err(QStringLiteral("towersearch-cli itm: give a FILE and at least one TEXT\n"));
        return kExitUsage;
    }
    const QString file = positional.first();
    const QStringList texts = positional.mid(1);
    int exitCode = kExitOk;
    auto pipeline = common.load(parser, QStringLiteral("itm"), kHeadImageTextMatching, exitCode);
    if (!pipeline)
        return exitCode;
    auto pixels = pipeline->loadPixels(file);
    if (!pixels) {
        err(QStringLiteral("towersearch-cli: %1\n").arg(pixels.error().message));
        return kExitInput;
    }
    auto scores = pipeline->matchTexts(*pixels, texts);
    if (!scores)
        return reportError(scores.error());
    if (parser.isSet(common.json)) {
        nlohmann::json results = nlohmann::json::array();
        for (qsizetype i = 0; i < texts.size(); ++i) {
            const MatchScore &s = (*scores)[size_t(i)];
            results.push_back({{"text", toJson(texts[i])},
                               {"logits", {s.logitNoMatch, s.logitMatch}},
                               {"match_probability", s.probability}});
        }
        printJson({{"model", toJson(pipeline->modelKey())},
                   {"file", toJson(file)},
                   {"results", results}});
    } else {
        for (qsizetype i = 0; i < texts.size(); ++i)
            out(QStringLiteral("%1\t%2\n")
                    .arg(QString::number((*scores)[size_t(i)].probability, 'f', 6), texts[i]));
    }
    return kExitOk;
}

CliCommand itmCommand() {
    return {QStringLiteral("itm"), QStringLiteral("Score how well captions match a photo."),
            runItm};
}

} // namespace ts::cli
