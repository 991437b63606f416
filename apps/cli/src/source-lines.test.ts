import { decodeLines, encodeLines } from "./source-lines";

describe("source lines", () => {
  it("encodes lines as ranges and decodes them back", () => {
    for (const lines of [[2], [2, 3, 4, 5], [2, 3, 5, 7, 8, 9, 12], [10, 11, 100, 101, 102]]) {
      expect(decodeLines(encodeLines(lines))).toEqual(lines);
    }
    expect(encodeLines([2, 3, 4, 7, 9, 10])).toBe("2-4,7,9-10");
  });

  it("reads nothing from text that is not a range list", () => {
    for (const bad of ["", "a", "2-", "5-3", "2,,3", 7, null, undefined]) expect(decodeLines(bad)).toBeUndefined();
  });
});
