#include "clicommand.h"

#include "core/text/tokenizer.h"

#include <nlohmann/json.hpp>

namespace ts::cli {

static const char *const kDescription =
    "Tokenize TEXT as the model sees it (RoBERTa byte-level BPE, exactly as Hugging Face's "
    "RobertaTokenizer)\n"
    "and print one line per token: id<TAB>token (byte-level form: 'Ġ' is a leading space).\n"
    "DIR needs only the tokenizer files: vocab.json + merges.txt (or tokenizer.json), and "
    "optionally\n"
    "tokenizer_config.json / special_tokens_map.json. The text is truncated to --max-length, by "
    "default\n"
    "to the tokenizer's model_max_length. Put '--' before a TEXT that starts with '-'.\n\n"
    "--json prints one object: {\"tokens\": [string...], \"input_ids\": [int...], "
    "\"attention_mask\": [int...]}\n"
    "(three lists of equal length; tokens[i] is the vocabulary string of input_ids[i]).\n\n"
    "Exit codes: 0 ok, 2 usage error, 4 tokenizer files missing or unusable.";

namespace {

void printTokensJson(const Tokenizer &tokenizer, const Encoding &enc) {
    // ordered_json: the keys print in the documented order.
    nlohmann::ordered_json root;
    std::vector<std::string> tokens;
    for (const int64_t id : enc.inputIds)
        tokens.push_back(tokenizer.idToToken(id).toStdString());
    root["tokens"] = tokens;
    root["input_ids"] = enc.inputIds;
    root["attention_mask"] = enc.attentionMask;
    out(QString::fromStdString(
            root.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)) +
        QLatin1Char('\n'));
}

// One line per token: id<TAB>token.
void printTokens(const Tokenizer &tokenizer, const Encoding &enc) {
    QString text;
    for (const int64_t id : enc.inputIds)
        text += QStringLiteral("%1\t%2\n").arg(id).arg(tokenizer.idToToken(id));
    out(text);
}

} // namespace

static int runTokenize(const QStringList &args) {
    QCommandLineParser parser;
    const QCommandLineOption modelOpt(QStringLiteral("model"),
                                      QStringLiteral("Checkpoint or tokenizer folder."),
                                      QStringLiteral("DIR"));
    const QCommandLineOption maxLengthOpt(
        QStringLiteral("max-length"),
        QStringLiteral("Truncate to N ids, special tokens included (default: "
                       "model_max_length)."),
        QStringLiteral("N"));
    const QCommandLineOption noSpecialOpt(QStringLiteral("no-special"),
                                          QStringLiteral("Do not add <s> and </s>."));
    const QCommandLineOption pairOpt(QStringLiteral("pair"),
                                     QStringLiteral("Encode TEXT and this second text as a pair."),
                                     QStringLiteral("TEXT"));
    const QCommandLineOption jsonOpt(QStringLiteral("json"),
                                     QStringLiteral("Print JSON (schema above)."));
    parser.addOptions({modelOpt, maxLengthOpt, noSpecialOpt, pairOpt, jsonOpt});
    parser.addPositionalArgument(QStringLiteral("TEXT"),
                                 QStringLiteral("The text to tokenize (quote it)."));
    if (int code = parseOrExit(parser, args, QString::fromUtf8(kDescription)); code >= 0)
        return code;

    const QString usage = QStringLiteral(
        "usage: towersearch-cli tokenize --model DIR [--max-length N] [--no-special] "
        "[--pair TEXT] [--json] [--] TEXT\n");
    if (!parser.isSet(modelOpt)) {
        err(QStringLiteral("towersearch-cli tokenize: --model DIR is required\n") + usage);
        return kExitUsage;
    }
    const QStringList positional = parser.positionalArguments();
    if (positional.size() != 1) {
        err(QStringLiteral(
                "towersearch-cli tokenize: expected exactly one TEXT, got %1 (quote the text)\n")
                .arg(positional.size()) +
            usage);
        return kExitUsage;
    }
    std::optional<int> maxLength;
    if (parser.isSet(maxLengthOpt)) {
        const Result<int> n = positiveIntOption(parser, maxLengthOpt, 0);
        if (!n)
            return usageError(QStringLiteral("tokenize"),
                              QStringLiteral("--max-length needs a positive integer, not '%1'")
                                  .arg(parser.value(maxLengthOpt)));
        maxLength = *n;
    }

    auto tokenizer = Tokenizer::load(parser.value(modelOpt));
    if (!tokenizer) {
        // Whatever went wrong with the files (even an I/O error), the input is unusable: exit 4.
        Error e = tokenizer.error();
        if (e.code != Error::Code::NotFound && e.code != Error::Code::Unsupported)
            e.code = Error::Code::Format;
        return reportError(e);
    }
    EncodeOptions opts;
    opts.addSpecialTokens = !parser.isSet(noSpecialOpt);
    opts.maxLength = maxLength.value_or(tokenizer->modelMaxLength());
    const Encoding enc = parser.isSet(pairOpt)
                             ? tokenizer->encodePair(positional[0], parser.value(pairOpt), opts)
                             : tokenizer->encode(positional[0], opts);

    if (parser.isSet(jsonOpt))
        printTokensJson(*tokenizer, enc);
    else
        printTokens(*tokenizer, enc);
    return kExitOk;
}

CliCommand tokenizeCommand() {
    return {QStringLiteral("tokenize"),
            QStringLiteral("Print the tokens and ids the model sees for a text."), runTokenize};
}

} // namespace ts::cli
