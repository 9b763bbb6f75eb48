/* The contract table's name pickers.
 *
 * The search box suggests types (GET /v1/types) and the place box regions, systems and
 * stations (GET /v1/locations), each as an ARIA combobox: arrow keys move through the
 * suggestions, Enter or a click picks one, Escape closes them. A pick becomes a filter by id
 * (a hidden field of the form, in a chip that the page's answer then names) and the form is
 * sent. Without this script the search box is a plain text search, and the place box sends
 * its text, which the page resolves to the place it names best.
 *
 * Suggestions are built with textContent: names are never parsed as HTML.
 */
"use strict";

(() => {
  const DELAY_MS = 200;
  const LIMIT = 8;
  const WORD = /[\p{L}\p{N}]{2}/u; // what /v1/locations needs: two letters or digits in a row

  const form = document.getElementById("filters");
  if (form === null) {
    return;
  }

  function submit() {
    if (typeof form.requestSubmit === "function") {
      form.requestSubmit();
    } else {
      form.submit();
    }
  }

  /* Replace the chips of `replaced` parameters by one for `name`=`value`. */
  function choose(replaced, name, value, kindLabel, label) {
    const box = document.getElementById("chosen");
    for (const chip of box.querySelectorAll(".chip")) {
      if (replaced.includes(chip.dataset.param)) {
        chip.remove();
      }
    }
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.dataset.param = name;
    const field = document.createElement("input");
    field.type = "hidden";
    field.name = name;
    field.value = String(value);
    const kind = document.createElement("span");
    kind.className = "chip-kind";
    kind.textContent = kindLabel;
    const text = document.createElement("span");
    text.className = "chip-name";
    text.textContent = label;
    chip.append(field, kind, " ", text);
    box.append(chip);
  }

  function placeDetail(place) {
    const parts = [place.kind];
    if (place.kind === "station" && place.system_name) {
      parts.push(place.system_name);
    }
    if (place.kind !== "region" && place.region_name) {
      parts.push(place.region_name);
    }
    if (typeof place.security_status === "number") {
      parts.push(place.security_status.toFixed(1));
    }
    return parts.join(" · ");
  }

  class Combobox {
    constructor(input, source) {
      this.input = input;
      this.source = source;
      this.list = input.parentElement.querySelector("[role=listbox]");
      this.min = Number(input.dataset.suggestMin || "3");
      this.items = [];
      this.active = -1;
      this.timer = 0;
      this.request = null;
      input.setAttribute("role", "combobox");
      input.setAttribute("aria-autocomplete", "list");
      input.setAttribute("aria-expanded", "false");
      input.setAttribute("aria-controls", this.list.id);
      input.addEventListener("input", () => this.schedule());
      input.addEventListener("keydown", (event) => this.key(event));
      input.addEventListener("blur", () => this.close());
      // Keep the focus in the box while an option is clicked.
      this.list.addEventListener("mousedown", (event) => event.preventDefault());
      this.list.addEventListener("click", (event) => {
        const option = event.target.closest("[role=option]");
        if (option !== null) {
          this.pick(Number(option.dataset.index));
        }
      });
    }

    text() {
      return this.input.value.trim();
    }

    wanted(text) {
      return text.length >= this.min && text.length <= 100 && this.source.accepts(text);
    }

    schedule() {
      window.clearTimeout(this.timer);
      const text = this.text();
      if (!this.wanted(text)) {
        this.abort();
        this.close();
        return;
      }
      this.timer = window.setTimeout(() => this.load(text), DELAY_MS);
    }

    abort() {
      if (this.request !== null) {
        this.request.abort();
        this.request = null;
      }
    }

    async load(text) {
      this.abort();
      const controller = new AbortController();
      this.request = controller;
      let items;
      try {
        const response = await fetch(this.source.url(text), {
          signal: controller.signal,
          headers: { Accept: "application/json" },
        });
        items = response.ok ? this.source.items(await response.json()) : [];
      } catch {
        return; // aborted by a newer request, or offline: no suggestions
      }
      if (this.request === controller && this.text() === text) {
        this.request = null;
        this.show(items);
      }
    }

    show(items) {
      this.items = items;
      this.active = -1;
      this.input.removeAttribute("aria-activedescendant");
      const options = items.map((item, index) => {
        const option = document.createElement("li");
        option.id = `${this.list.id}-${index}`;
        option.dataset.index = String(index);
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        const name = document.createElement("span");
        name.className = "suggestion-name";
        name.textContent = item.name;
        const detail = document.createElement("span");
        detail.className = "suggestion-detail";
        detail.textContent = item.detail;
        option.append(name, detail);
        return option;
      });
      this.list.replaceChildren(...options);
      if (items.length === 0 || document.activeElement !== this.input) {
        this.close();
        return;
      }
      this.list.hidden = false;
      this.input.setAttribute("aria-expanded", "true");
    }

    close() {
      window.clearTimeout(this.timer);
      this.list.hidden = true;
      this.input.setAttribute("aria-expanded", "false");
      this.input.removeAttribute("aria-activedescendant");
      this.active = -1;
    }

    move(index) {
      const options = this.list.querySelectorAll("[role=option]");
      options.forEach((option, at) => option.setAttribute("aria-selected", String(at === index)));
      this.active = index;
      this.input.setAttribute("aria-activedescendant", options[index].id);
      options[index].scrollIntoView({ block: "nearest" });
    }

    async key(event) {
      const open = !this.list.hidden;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (this.items.length === 0) {
          return;
        }
        event.preventDefault();
        if (!open) {
          this.list.hidden = false;
          this.input.setAttribute("aria-expanded", "true");
        }
        const last = this.items.length - 1;
        const down = event.key === "ArrowDown";
        let next;
        if (this.active < 0) {
          next = down ? 0 : last;
        } else {
          next = down ? (this.active === last ? 0 : this.active + 1) : (this.active === 0 ? last : this.active - 1);
        }
        this.move(next);
      } else if (event.key === "Enter") {
        if (open && this.active >= 0) {
          event.preventDefault();
          this.pick(this.active);
        } else if (this.source.enterPicksFirst) {
          // The place box means nothing as text: Enter takes its best suggestion.
          event.preventDefault();
          const text = this.text();
          if (!open && this.wanted(text)) {
            await this.load(text);
          }
          if (this.items.length > 0 && this.text() === text) {
            this.pick(0);
          }
        } else {
          this.close(); // the form is sent with the text as it is
        }
      } else if (event.key === "Escape" && open) {
        event.preventDefault();
        this.close();
      }
    }

    pick(index) {
      const item = this.items[index];
      this.close();
      if (item !== undefined) {
        this.source.pick(item);
      }
    }
  }

  const search = document.getElementById("search");
  if (search !== null && search.dataset.suggest) {
    const parameter = search.dataset.pick;
    const label = search.dataset.pickLabel;
    new Combobox(search, {
      accepts: () => true,
      url: (text) => `${search.dataset.suggest}?q=${encodeURIComponent(text)}&limit=${LIMIT}`,
      items: (body) =>
        body.types.map((type) => ({
          id: type.type_id,
          name: type.name,
          detail: [type.group_name || type.category_name, type.published ? "" : "unpublished"]
            .filter(Boolean)
            .join(" · "),
        })),
      pick: (item) => {
        choose([parameter], parameter, item.id, label, item.name);
        search.value = "";
        submit();
      },
    });
  }

  const place = document.getElementById("place");
  if (place !== null && place.dataset.suggest) {
    // The box's text is not a filter once picks are possible: only picked ids are sent.
    place.removeAttribute("name");
    for (const kind of ["input", "change"]) {
      place.addEventListener(kind, (event) => event.stopPropagation());
    }
    const parameters = Object.fromEntries(
      place.dataset.pickPlace.split(" ").map((pair) => pair.split("=")),
    );
    const labels = { region_id: "Region", system_id: "System", start_location_id: "Station" };
    new Combobox(place, {
      accepts: (text) => WORD.test(text),
      enterPicksFirst: true,
      url: (text) => `${place.dataset.suggest}?q=${encodeURIComponent(text)}&limit=${LIMIT}`,
      items: (body) =>
        body.locations
          .filter((location) => location.kind in parameters)
          .map((location) => ({
            id: location.id,
            name: location.name,
            kind: location.kind,
            detail: placeDetail(location),
          })),
      pick: (item) => {
        const parameter = parameters[item.kind];
        choose(Object.values(parameters), parameter, item.id, labels[parameter], item.name);
        place.value = "";
        submit();
      },
    });
  }
})();
