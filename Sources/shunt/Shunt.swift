import ArgumentParser
@main struct Shunt: ParsableCommand { func run() {} }
