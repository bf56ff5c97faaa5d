// Undo/redo by snapshots of the serialized graph (its view aside), taken after each finished edit.

const LIMIT = 100;

export class UndoHistory {
  constructor(capture, restore) {
    this.capture = capture; // () => JSON string of the graph's content (graph_snapshot.js)
    this.restore = restore; // (string) => void
    this.states = [];
    this.index = -1;
  }

  reset() { this.states = [this.capture()]; this.index = 0; }

  /** Record the graph as it is now (`s`: its capture, when the caller has one), when it differs from the last record. */
  commit(s = this.capture()) {
    if (this.states[this.index] === s) return false;
    this.states.length = this.index + 1;
    this.states.push(s);
    if (this.states.length > LIMIT) this.states.shift();
    this.index = this.states.length - 1;
    return true;
  }

  undo() {
    this.commit();
    if (this.index <= 0) return false;
    this.restore(this.states[--this.index]);
    return true;
  }

  redo() {
    if (this.index >= this.states.length - 1) return false;
    this.restore(this.states[++this.index]);
    return true;
  }
}
