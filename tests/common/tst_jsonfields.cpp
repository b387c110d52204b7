// JsonFieldReader (core/common/jsonfields.h): typed config fields, null as absent, and problems
// that name the key, what was expected and what was found.
#include "core/common/jsonfields.h"

#include <QTest>

using namespace ts;
using Json = nlohmann::json;

class TestJsonFields : public QObject {
    Q_OBJECT
private Q_SLOTS:
    // Absent keys and null leave the defaults; present values of the right type are read.
    void readsSetFieldsAndKeepsDefaultsForAbsentOrNull() {
        const Json j = Json::parse(R"({"i": 7, "f": 768.0, "d": 0.5, "b": true, "s": "gelu",
                                       "null_i": null, "oi": 3, "od": 2})");
        JsonFieldReader r(j);
        int i = -1, f = -1, nullI = 42, absent = 43;
        double d = -1;
        bool b = false;
        std::string s = "default";
        std::optional<int> oi, missing;
        std::optional<double> od;
        r.read("i", i);
        r.read("f", f); // an integral float counts as an integer
        r.read("d", d);
        r.read("b", b);
        r.read("s", s);
        r.read("null_i", nullI);
        r.read("absent", absent);
        r.read("oi", oi);
        r.read("od", od);
        r.read("missing", missing);
        QVERIFY(r.ok());
        QCOMPARE(i, 7);
        QCOMPARE(f, 768);
        QCOMPARE(d, 0.5);
        QCOMPARE(b, true);
        QCOMPARE(s, std::string("gelu"));
        QCOMPARE(nullI, 42);
        QCOMPARE(absent, 43);
        QCOMPARE(oi, std::optional<int>(3));
        QCOMPARE(od, std::optional<double>(2.0));
        QVERIFY(!missing);
    }

    void recordsEveryWrongTypeAndKeepsTheDefault_data() {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("key");
        QTest::addColumn<QString>("expected");
        QTest::addColumn<QString>("got");
        QTest::newRow("string for an int") << R"({"k": "12"})"
                                           << "k"
                                           << "must be an integer"
                                           << R"("12")";
        QTest::newRow("fraction for an int") << R"({"k": 1.5})"
                                             << "k"
                                             << "must be an integer"
                                             << "1.5";
        QTest::newRow("int for a bool") << R"({"k": 1})"
                                        << "k"
                                        << "must be true or false"
                                        << "1";
        QTest::newRow("list for a string") << R"({"k": [1]})"
                                           << "k"
                                           << "must be a string"
                                           << "[1]";
        QTest::newRow("bool for a number") << R"({"k": false})"
                                           << "k"
                                           << "must be a number"
                                           << "false";
    }
    void recordsEveryWrongTypeAndKeepsTheDefault() {
        QFETCH(QString, json);
        QFETCH(QString, key);
        QFETCH(QString, expected);
        QFETCH(QString, got);
        const Json j = Json::parse(json.toStdString());
        JsonFieldReader r(j);
        int i = 5;
        bool b = true;
        std::string s = "keep";
        double d = 2.5;
        if (expected.contains(QLatin1String("integer")))
            r.read("k", i);
        else if (expected.contains(QLatin1String("true or false")))
            r.read("k", b);
        else if (expected.contains(QLatin1String("string")))
            r.read("k", s);
        else
            r.read("k", d);
        QVERIFY(!r.ok());
        QCOMPARE(r.problems().size(), size_t(1));
        QCOMPARE(r.problems()[0].key, key);
        QCOMPARE(r.problems()[0].expected, expected);
        QCOMPARE(r.problems()[0].got, got);
        QCOMPARE(i, 5);
        QCOMPARE(b, true);
        QCOMPARE(s, std::string("keep"));
        QCOMPARE(d, 2.5);
    }

    // Reading goes on after a problem: every bad field is reported, in reading order.
    void keepsReadingAfterAProblem() {
        const Json j = Json::parse(R"({"a": "x", "b": 2, "c": null, "d": []})");
        JsonFieldReader r(j);
        int a = 0, b = 0, c = 9, d = 0;
        r.read("a", a);
        r.read("b", b);
        r.read("c", c);
        r.read("d", d);
        QCOMPARE(r.problems().size(), size_t(2));
        QCOMPARE(r.problems()[0].key, QStringLiteral("a"));
        QCOMPARE(r.problems()[1].key, QStringLiteral("d"));
        QCOMPARE(b, 2);
        QCOMPARE(c, 9);
    }

    void checksRangesAndFiniteNumbers_data() {
        QTest::addColumn<QString>("value");
        QTest::addColumn<bool>("inRange");
        QTest::newRow("low end") << "1" << true;
        QTest::newRow("high end") << "4096" << true;
        QTest::newRow("below") << "0" << false;
        QTest::newRow("above") << "4097" << false;
        QTest::newRow("integral float (strict here)") << "32.0" << false;
        QTest::newRow("negative") << "-3" << false;
        QTest::newRow("huge") << "18446744073709551615" << false;
    }
    void checksRangesAndFiniteNumbers() {
        QFETCH(QString, value);
        QFETCH(bool, inRange);
        const Json v = Json::parse(value.toStdString());
        JsonFieldReader r(Json::object());
        const std::optional<int> got = r.integerIn(v, "size.shortest_edge", 1, 4096);
        QCOMPARE(got.has_value(), inRange);
        QCOMPARE(r.ok(), inRange);
        if (inRange) {
            QCOMPARE(*got, value.toInt());
        } else {
            QCOMPARE(r.problems()[0].key, QStringLiteral("size.shortest_edge"));
            QCOMPARE(r.problems()[0].expected, QStringLiteral("must be an integer in [1, 4096]"));
        }
        const std::optional<double> number = r.finiteNumber(v, "n");
        QVERIFY(number);
        QCOMPARE(*number, v.get<double>());
        QVERIFY(!r.finiteNumber(Json("1"), "n"));
    }
};

int runJsonFieldsTests(int argc, char **argv) {
    TestJsonFields t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_jsonfields.moc"
