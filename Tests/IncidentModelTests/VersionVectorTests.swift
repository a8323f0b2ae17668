import IncidentModel
import Testing

@Suite struct VersionVectorTests {
    @Test func zeroEntriesAreDroppedAndMissingOriginsReadAsZero() {
        var v = VersionVector(["gao": 3, "kidal": 0])
        #expect(v.origins == ["gao"])
        #expect(v["kidal"] == 0)
        v["kidal"] = 2
        v["gao"] = 0
        #expect(v == VersionVector(["kidal": 2]))
        #expect(v.total == 2)
    }

    @Test func dominatesWhenItHoldsAtLeastEverything() {
        let a = VersionVector(["gao": 5, "bamako-hq": 2])
        #expect(a.dominates(VersionVector(["gao": 5])))
        #expect(a.dominates(VersionVector()))
        #expect(a.dominates(a))
        #expect(!a.dominates(VersionVector(["gao": 6])))
        #expect(!a.dominates(VersionVector(["timbuktu": 1])))
    }

    @Test func encodesAsAnObjectWithSortedKeysAndReadsBack() throws {
        let v = VersionVector(["timbuktu": 4, "bamako-hq": 40, "gao": 12])
        #expect(v.description == #"{"bamako-hq":40,"gao":12,"timbuktu":4}"#)
        #expect(VersionVector(json: try JSONParser.parse(Array(v.description.utf8))) == v)
    }

    @Test(arguments: [#"{"gao":-1}"#, #"{"gao":1.5}"#, #"{"Gao":1}"#, #"{"g:o":1}"#, #"{"gao":"1"}"#, "[]"])
    func malformedVectorIsRefused(text: String) throws {
        #expect(VersionVector(json: try JSONParser.parse(Array(text.utf8))) == nil)
    }
}
