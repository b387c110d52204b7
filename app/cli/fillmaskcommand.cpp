#include "clicommand.h"
#include "jsonoutput.h"
#include "modeloptions.h"

namespace ts::cli {

static int runFillMask(const QStringList &args) {
    QCommandLineParser parser;
    ModelOptions common;
    common.addTo(parser);
    const QCommandLineOption topOpt(QStringLiteral("top"),
                                    QStringLiteral("Proposals per blank (default 10)."),
                                    QStringLiteral("K"), QStringLiteral("10"));
    parser.addOption(topOpt);
    parser.addPositionalArgument(QStringLiteral("FILE"), QStringLiteral("A photo."));
    parser.addPositionalArgument(QStringLiteral("TEXT"),
                                 QStringLiteral("A caption with one or more <mask> blanks."));
    if (int code = parseOrExit(
            parser, args,
            QStringLiteral("Fill the <mask> blanks of a caption for a photo (masked LM head)."));
        code >= 0)
        return code;
    const QStringList positional = parser.positionalArguments();
    if (positional.size() != 2) {
        err(QStringLiteral("towersearch-cli fill-mask: give a FILE and one TEXT (quote it)\n"));
        return kExitUsage;
    }
    bool ok = false;
    const int top = parser.value(topOpt).toInt(&ok);
    if (!ok || top < 1) {
        err(QStringLiteral("towersearch-cli fill-mask: --top needs a positive number\n"));
        return kExitUsage;
    }
    int exitCode = kExitOk;
    auto pipeline = common.load(parser, QStringLiteral("fill-mask"), kHeadMaskedLm, exitCode);
    if (!pipeline)
        return exitCode;
    auto pixels = pipeline->loadPixels(positional[0]);
    if (!pixels) {
        err(QStringLiteral("towersearch-cli: %1\n").arg(pixels.error().message));
        return kExitInput;
    }
    auto result = pipeline->fillMask(*pixels, positional[1], top);
    if (!result) {
        err(QStringLiteral("towersearch-cli: %1\n").arg(result.error().message));
        return result.error().code == Error::Code::InvalidArgument ? kExitInput
                                                                   : reportError(result.error());
    }
    if (parser.isSet(common.json)) {
        nlohmann::json masks = nlohmann::json::array();
        for (const MaskPrediction &m : result->masks)
            masks.push_back({{"position", m.position},
                             {"top_ids", m.ids},
                             {"top_tokens", toJson(m.tokens)},
                             {"top_words", toJson(m.words)},
                             {"top_probabilities", m.probabilities},
                             {"top_logits", m.logits}});
        printJson({{"model", toJson(pipeline->modelKey())},
                   {"file", toJson(positional[0])},
                   {"text", toJson(positional[1])},
                   {"input_ids", result->inputIds},
                   {"masks", masks},
                   {"filled_input_ids", result->filledIds},
                   {"filled_text", toJson(result->filledText)}});
    } else {
        out(result->filledText + QLatin1Char('\n'));
        for (size_t i = 0; i < result->masks.size(); ++i) {
            const MaskPrediction &m = result->masks[i];
            QStringList items;
            for (qsizetype k = 0; k < m.words.size(); ++k)
                items << QStringLiteral("%1 (%2%)")
                             .arg(m.words[k].trimmed(),
                                  QString::number(100.0 * m.probabilities[size_t(k)], 'f', 2));
            out(QStringLiteral("blank %1: %2\n").arg(i + 1).arg(items.join(QStringLiteral(", "))));
        }
    }
    return kExitOk;
}

CliCommand fillMaskCommand() {
    return {QStringLiteral("fill-mask"),
            QStringLiteral("Fill the <mask> blanks of a caption for a photo."), runFillMask};
}

} // namespace ts::cli
