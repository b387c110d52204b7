// One executable for core/common, several test classes (Qt Test runs one class per qExec).
#include <QCoreApplication>

int runSafetensorsTests(int argc, char **argv);
int runJsonFileTests(int argc, char **argv);
int runCrc32Tests(int argc, char **argv);
int runFloat16Tests(int argc, char **argv);
int runJsonFieldsTests(int argc, char **argv);

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    int failures = 0;
    failures += runSafetensorsTests(argc, argv);
    failures += runJsonFileTests(argc, argv);
    failures += runCrc32Tests(argc, argv);
    failures += runFloat16Tests(argc, argv);
    failures += runJsonFieldsTests(argc, argv);
    return failures == 0 ? 0 : 1;
}
