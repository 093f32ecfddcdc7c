/// The torch module each imported layer came from: the innermost module on its node's scope path
/// (`BlockLabels.modulePath`), as a dotted path of the torch model (`features.4.0.block.3.0`).
///
/// The TorchScript exporter names the second and later calls of one module `NAME_1`, `NAME_2`
/// (ResNet's `relu`, called three times per bottleneck, appears as `relu`, `relu_1`, `relu_2`). A
/// component `NAME_k` whose `NAME` is a module seen at the same place in the graph is that module
/// called again, and is written as `NAME`; a module really named `NAME_k` beside one named
/// `NAME` would be mistaken for it (none of torchvision's or transformers' models has one).
struct ModulePaths {
    private let paths: [[String]]
    private let known: Set<String>

    init(_ paths: [[String]]) {
        self.paths = paths
        known = Set(paths.joined())
    }

    /// The module of layer `index`, or nil when its node recorded no scope (model-level code).
    func module(ofLayer index: Int) -> String? {
        guard let path = paths[index].last, !path.isEmpty else { return nil }
        var resolved = ""
        for component in path.split(separator: ".", omittingEmptySubsequences: false) {
            let prefix = resolved.isEmpty ? "" : resolved + "."
            var name = String(component)
            if let underscore = name.lastIndex(of: "_"), underscore != name.startIndex,
                Int(name[name.index(after: underscore)...]) != nil, known.contains(prefix + name[..<underscore])
            {
                name = String(name[..<underscore])
            }
            resolved = prefix + name
        }
        return resolved
    }
}
