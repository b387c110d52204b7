// towersearch-cli describe FILE: the masked-LM head's tags for a photo
// (core/search/photodescription.h).
// --json schema (stable): {"model": str, "file": str, "templates": [{"text": str, "masks":
// [{"position", "top_ids", "top_words", "top_probabilities"}]}], "tags": [{"word": str, "score":
// float}]}
#include "clicommand.h"
#include "jsonoutput.h"
#include "modeloptions.h"

#include "core/search/photodescription.h"

namespace ts::cli {

namespace {

nlohmann::json describedJson(const PhotoDescription &described, const QString &modelKey,
                             const QString &file) {
    nlohmann::json templates = nlohmann::json::array();
    for (size_t t = 0; t < described.fills.size(); ++t) {
        nlohmann::json masks = nlohmann::json::array();
        for (const MaskPrediction &m : described.fills[t].masks)
            masks.push_back({{"position", m.position},
                             {"top_ids", m.ids},
                             {"top_words", toJson(m.words)},
                             {"top_probabilities", m.probabilities}});
        templates.push_back(
            {{"text", toJson(described.templates[qsizetype(t)])}, {"masks", masks}});
    }
    nlohmann::json tags = nlohmann::json::array();
    for (const DescribeTag &tag : described.tags)
        tags.push_back({{"word", toJson(tag.word)}, {"score", tag.score}});
    return {{"model", toJson(modelKey)},
            {"file", toJson(file)},
            {"templates", templates},
            {"tags", tags}};
}

} // namespace

static int runDescribe(const QStringList &args) {
    QCommandLineParser parser;
    ModelOptions common;
    common.addTo(parser);
    const DescribeOptions defaults;
    const QCommandLineOption templateOpt(
        QStringLiteral("template"),
        QStringLiteral("A caption with <mask> blanks to fill (repeatable; default: \"%1\").")
            .arg(defaults.templates.join(QStringLiteral("\", \""))),
        QStringLiteral("TEXT"));
    const QCommandLineOption topOpt(
        QStringLiteral("top"),
        QStringLiteral("Proposals read at each blank (default %1).").arg(defaults.topK),
        QStringLiteral("K"));
    const QCommandLineOption tagsOpt(
        QStringLiteral("tags"), QStringLiteral("Tags to print (default %1).").arg(defaults.maxTags),
        QStringLiteral("N"));
    parser.addOptions({templateOpt, topOpt, tagsOpt});
    parser.addPositionalArgument(QStringLiteral("FILE"), QStringLiteral("A photo."));
    if (int code = parseOrExit(parser, args,
                               QStringLiteral("Describe a photo in a few words (masked LM head)."));
        code >= 0)
        return code;
    if (parser.positionalArguments().size() != 1) {
        err(QStringLiteral("towersearch-cli describe: give one FILE\n"));
        return kExitUsage;
    }
    DescribeOptions options;
    if (parser.isSet(templateOpt))
        options.templates = parser.values(templateOpt);
    for (const auto &[opt, target] :
         {std::pair{&topOpt, &options.topK}, std::pair{&tagsOpt, &options.maxTags}}) {
        const Result<int> value = positiveIntOption(parser, *opt, *target);
        if (!value)
            return usageError(QStringLiteral("describe"), value.error().message);
        *target = *value;
    }
    const QString file = parser.positionalArguments().first();
    int exitCode = kExitOk;
    auto pipeline = common.load(parser, QStringLiteral("describe"), kHeadMaskedLm, exitCode);
    if (!pipeline)
        return exitCode;
    // Templates first: a bad one is reported before the photo is decoded or the model run.
    if (Status s = checkDescribeOptions(*pipeline, options); !s) {
        err(QStringLiteral("towersearch-cli: %1\n").arg(s.error().message));
        return s.error().code == Error::Code::InvalidArgument ? kExitInput : reportError(s.error());
    }
    auto pixels = pipeline->loadPixels(file);
    if (!pixels) {
        err(QStringLiteral("towersearch-cli: %1\n").arg(pixels.error().message));
        return kExitInput;
    }
    auto described = describePixels(*pipeline, *pixels, options);
    if (!described)
        return reportError(described.error());
    if (parser.isSet(common.json))
        printJson(describedJson(*described, pipeline->modelKey(), file));
    else
        for (const DescribeTag &tag : described->tags)
            out(QStringLiteral("%1\t%2%\n")
                    .arg(tag.word, QString::number(100.0 * double(tag.score), 'f', 3)));
    return kExitOk;
}

CliCommand describeCommand() {
    return {QStringLiteral("describe"),
            QStringLiteral("Describe a photo in a few words (masked LM head)."), runDescribe};
}

} // namespace ts::cli
