import ArgumentParser
import ShuntSession

@main
struct Shunt: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shunt",
        abstract: "Take over the traffic of a Kubernetes service and serve it from your laptop.",
        discussion: """
            A global intercept sends every connection of a service port to your laptop; a personal \
            intercept sends only the requests that carry your header or hit your path, while everyone \
            else keeps reaching the in-cluster version.
            """,
        subcommands: [Intercept.self, List.self, Leave.self, Status.self, Demo.self, Certs.self, Relay.self, Inject.self, Uninject.self]
    )

    static func main() async {
        ProcessMemory.keepFreedMemoryForReuse()
        await Self.main(nil)
    }
}
