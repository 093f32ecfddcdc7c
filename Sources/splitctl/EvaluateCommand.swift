import ArgumentParser
import Foundation
import SplitCore

/// `splitctl evaluate`: the predicted delay of a split the user gives.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Predict the training delay of a given split (device layers), e.g. the one you run today.",
        discussion: "Give the device layers by name (--device-layers a,b,c) or as a plan JSON from 'splitctl plan --format json' (--plan FILE).")

    @Argument(help: InputFiles.graphHelp)
    var graph: String
    @Option(name: .customLong("device-layers"), help: "Comma-separated names of the layers on the device.")
    var deviceLayers: String?
    @Option(help: "A plan JSON whose device_layers to evaluate.")
    var plan: String?
    @OptionGroup var conditionOptions: ConditionOptions
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Output: table|json.")
    var format: PlanCommand.Format = .table

    func run() throws {
        let conditions = try conditionOptions.conditions()
        let model = try modelOptions.prepare(graphPath: graph)
        let names: [String]
        switch (deviceLayers, plan) {
        case let (list?, nil):
            names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        case let (nil, path?):
            let data = try InputFiles.read(path, what: "plan file")
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let layers = object["device_layers"] as? [String]
            else {
                throw InputError("\(path): not a plan JSON with a device_layers array")
            }
            names = layers
        default:
            throw InputError("give exactly one of --device-layers or --plan")
        }
        var onDevice = [Bool](repeating: false, count: model.graph.count)
        for name in names {
            guard let index = model.graph.index(of: name) else { throw InputError("device layer '\(name)' is not a layer of '\(model.graph.name)'") }
            onDevice[index] = true
        }
        let result = try model.plan(forSplit: onDevice, conditions: conditions)
        AssumedDefault.announce(conditionOptions.assumed(model: modelOptions))
        switch format {
        case .json:
            var report = PlanReport(plan: result, model: model, conditions: conditions)
            report.algorithm = "given"
            FileHandle.standardOutput.write(report.jsonData())
            print()
        case .table, .dot:
            print(PlanText.render(plan: result, model: model, conditions: conditions, algorithmLabel: "(given split)"), terminator: "")
        }
    }
}
