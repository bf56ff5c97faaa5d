// What the full-window views (the image viewer, the mask editor) share: while open they
// take every key before the canvas does and follow the window's size; closing gives the
// keyboard back to the canvas.

export class FullWindowView {
  /** Start taking keys (`this.key(e)`) and resizes (`this.resized()`). */
  listen() {
    this.onKey = (e) => this.key(e);
    this.onResize = () => this.resized();
    window.addEventListener("keydown", this.onKey, true);
    window.addEventListener("resize", this.onResize);
  }

  close() {
    window.removeEventListener("keydown", this.onKey, true);
    window.removeEventListener("resize", this.onResize);
    this.el.remove();
    this.closed();
    this.app.canvas?.focus();
  }

  /** Called once the view is gone (the module forgets its open view). */
  closed() {}
}
