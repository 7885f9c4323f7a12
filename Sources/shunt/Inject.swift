import ArgumentParser
import Foundation
import ShuntKube

/// `shunt inject`: the manifests of a workload and its Service, with the agent added as a sidecar.
struct Inject: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add the Shunt agent to a workload's manifests (YAML in, YAML out).",
        discussion: """
            Reads a Deployment (or StatefulSet, DaemonSet) and the Service in front of it, as a YAML \
            stream or a `kind: List`, from FILE or standard input, and writes them back with the agent \
            beside the app: the shunt-agent container, the certificate Secret mounted at \
            /etc/shunt/certs, probes on the admin port (/readyz, /healthz), and each Service port's \
            targetPort moved to an edge port of the agent, which forwards to the app's port on \
            127.0.0.1 (--app). Each intercepted Service port gets its own edge port (from \
            --edge-port on). The app's env and envFrom reach the agent under SHUNT_APP_, so that \
            `shunt intercept --env-file` gets them. Other objects pass through untouched; comments are \
            not kept. The objects record what changed, and `shunt uninject` restores them exactly.

            Examples:
              kubectl get deployment/orders service/orders -o yaml | shunt inject | kubectl apply -f -
              shunt inject app.yaml --container orders --port http > app-shunt.yaml
            """
    )

    @Argument(help: ArgumentHelp("The manifests (default: standard input).", valueName: "FILE"))
    var file: String?

    @Option(help: "The agent's image.")
    var image = "shunt-agent:latest"

    @Option(help: "The Secret with ca.pem, agent.pem and agent-key.pem.")
    var secret = "shunt-agent-certs"

    @Option(help: ArgumentHelp("The workload, when the input has several (NAME or KIND/NAME).", valueName: "NAME"))
    var workload: String?

    @Option(help: ArgumentHelp("The Service, when several select the workload.", valueName: "NAME"))
    var service: String?

    @Option(help: ArgumentHelp("The app container, when the pod has several and the Service's ports do not tell.", valueName: "NAME"))
    var container: String?

    @Option(help: ArgumentHelp("A Service port to route through the agent, by number or name (repeatable; default: every TCP port).", valueName: "PORT"))
    var port: [String] = []

    @Option(help: "The agent's first edge port; each intercepted Service port takes the next free one.")
    var edgePort = 18080

    @Option(help: "The agent's tunnel port (where laptops connect).")
    var tunnelPort = 7443

    @Option(help: "The agent's admin port (probes).")
    var adminPort = 9901

    func run() throws {
        var options = InjectionOptions()
        options.image = image
        options.secret = secret
        options.workload = workload
        options.service = service
        options.container = container
        options.ports = port
        options.edgePort = edgePort
        options.tunnelPort = tunnelPort
        options.adminPort = adminPort
        let input = try ManifestInput.read(file, command: "inject")
        do {
            let (yaml, summary) = try Injection.inject(yaml: input, options: options)
            FileHandle.standardOutput.write(Data(yaml.utf8))
            let routes = summary.routes.map { "port \($0.servicePort) → agent :\($0.edgePort) → app 127.0.0.1:\($0.appPort)" }
            CommandFailure.say("inject", "\(summary.workload) (app container \(summary.container)) and \(summary.service): \(routes.joined(separator: ", ")); laptops connect to :\(summary.tunnelPort)")
        } catch let error as InjectionError {
            throw CommandFailure.exit("inject", error.message)
        }
    }
}

/// `shunt uninject`: the manifests exactly as they were before `shunt inject`.
struct Uninject: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove the Shunt agent from manifests `shunt inject` wrote.",
        discussion: """
            Every object with the shunt.dev/injected annotation gets back what it had: the agent \
            container and its volume go, the Service's targetPorts are restored, the annotation goes.

            Example:
              kubectl get deployment/orders service/orders -o yaml | shunt uninject | kubectl apply -f -
            """
    )

    @Argument(help: ArgumentHelp("The manifests (default: standard input).", valueName: "FILE"))
    var file: String?

    func run() throws {
        let input = try ManifestInput.read(file, command: "uninject")
        do {
            let (yaml, restored) = try Uninjection.uninject(yaml: input)
            FileHandle.standardOutput.write(Data(yaml.utf8))
            CommandFailure.say("uninject", "restored \(restored.joined(separator: ", "))")
        } catch let error as InjectionError {
            throw CommandFailure.exit("uninject", error.message)
        }
    }
}

enum ManifestInput {
    static func read(_ file: String?, command: String) throws -> String {
        let data: Data?
        if let file, file != "-" {
            data = FileManager.default.contents(atPath: file)
            guard data != nil else { throw CommandFailure.exit(command, "cannot read \(file)") }
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        guard let data, let text = String(data: data, encoding: .utf8) else {
            throw CommandFailure.exit(command, "the input is not UTF-8 text")
        }
        return text
    }
}
