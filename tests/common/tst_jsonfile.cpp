// The bounded JSON reader of core/common that every JSON file of a checkpoint folder goes through.
#include "core/common/jsonfile.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <string>

using namespace ts;

namespace {

// `depth` arrays nested, innermost holding `inner`: depth 1 is "[inner]".
std::string nestedArrays(int depth, const std::string &inner = "1") {
    return std::string(size_t(depth), '[') + inner + std::string(size_t(depth), ']');
}

} // namespace

class TestJsonFile : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void depthLimitIsExact_data() {
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<int>("maxDepth");
        QTest::addColumn<bool>("accepted");
        const auto arrays = [](int depth) {
            return QByteArray::fromStdString(nestedArrays(depth));
        };
        QTest::newRow("64 arrays, limit 64") << arrays(64) << 64 << true;
        QTest::newRow("65 arrays, limit 64") << arrays(65) << 64 << false;
        QTest::newRow("object in 63 arrays, limit 64")
            << QByteArray::fromStdString(nestedArrays(63, "{\"a\":1}")) << 64 << true;
        QTest::newRow("object with empty array in 63 arrays, limit 64")
            << QByteArray::fromStdString(nestedArrays(63, "{\"a\":[]}")) << 64 << false;
        QTest::newRow("scalar, limit 1") << QByteArray("3") << 1 << true;
        QTest::newRow("flat object, limit 1") << QByteArray(R"({"a": 1, "b": "x"})") << 1 << true;
        QTest::newRow("object in object, limit 1") << QByteArray(R"({"a": {}})") << 1 << false;
        // Brackets inside strings are text, not nesting.
        QTest::newRow("brackets in a string, limit 1")
            << QByteArray("[\"[[[{{{\\\"]]]\"]") << 1 << true;
    }
    void depthLimitIsExact() {
        QFETCH(QByteArray, text);
        QFETCH(int, maxDepth);
        QFETCH(bool, accepted);
        const auto json = parseJson(std::string_view(text.constData(), size_t(text.size())),
                                    QStringLiteral("test.json"), maxDepth);
        QCOMPARE(json.ok(), accepted);
        if (accepted) {
            // The value is the one nlohmann builds without a limit.
            QVERIFY(*json ==
                    nlohmann::json::parse(text.constData(), text.constData() + text.size()));
        } else {
            QCOMPARE(json.error().code, Error::Code::Format);
            QVERIFY2(json.error().message.contains(QStringLiteral("test.json")),
                     qPrintable(json.error().message));
            QVERIFY2(json.error().message.contains(
                         QStringLiteral("nested more than %1 levels").arg(maxDepth)),
                     qPrintable(json.error().message));
        }
    }

    void syntaxErrorsNameLineAndColumn() {
        const QByteArray text("{\n  \"a\": 1,\n  \"b\" 2\n}");
        const auto json = parseJson(std::string_view(text.constData(), size_t(text.size())),
                                    QStringLiteral("x.json"));
        QVERIFY(!json.ok());
        QVERIFY2(json.error().message.startsWith(
                     QStringLiteral("x.json: not valid JSON at line 3, column 7")),
                 qPrintable(json.error().message));
    }

    void topLevelKeysComeInFileOrder() {
        const std::string text = R"({"zebra": 1, "apple": {"inner": 2}, "mango": [3]})";
        std::vector<std::string> keys;
        const auto json = parseJson(text, QStringLiteral("keys.json"), kMaxJsonDepth, &keys);
        QVERIFY(json.ok());
        QCOMPARE(keys, (std::vector<std::string>{"zebra", "apple", "mango"}));
    }

    void fileSizeLimitIsCheckedBeforeReading_data() {
        QTest::addColumn<qint64>("size");
        QTest::addColumn<qint64>("limit");
        QTest::addColumn<bool>("accepted");
        QTest::newRow("at the limit") << qint64(1000) << qint64(1000) << true;
        QTest::newRow("one byte over") << qint64(1001) << qint64(1000) << false;
    }
    void fileSizeLimitIsCheckedBeforeReading() {
        QFETCH(qint64, size);
        QFETCH(qint64, limit);
        QFETCH(bool, accepted);
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("padded.json"));
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        // A valid document padded with whitespace to exactly `size` bytes.
        QByteArray text("{\"a\": 1}");
        text += QByteArray(size - text.size(), ' ');
        QCOMPARE(f.write(text), size);
        f.close();
        const auto json = readJsonFile(path, limit);
        QCOMPARE(json.ok(), accepted);
        if (!accepted) {
            QVERIFY2(json.error().message.contains(path), qPrintable(json.error().message));
            QVERIFY2(json.error().message.contains(QStringLiteral("1000-byte limit")),
                     qPrintable(json.error().message));
        }
    }

    void missingFileIsNotFound() {
        const auto json = readJsonFile(QStringLiteral("/nonexistent/config.json"));
        QVERIFY(!json.ok());
        QCOMPARE(json.error().code, Error::Code::NotFound);
        QVERIFY(json.error().message.contains(QStringLiteral("/nonexistent/config.json")));
    }
};

int runJsonFileTests(int argc, char **argv) {
    TestJsonFile t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_jsonfile.moc"
