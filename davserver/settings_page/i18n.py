"""The page's texts in German (the default: the practices are in Austria and Germany) and English.

One dict per language with the same keys (a test checks this); `{name}` fields are filled
with str.format and escaped by the template.
"""

from __future__ import annotations

from collections.abc import Callable

DEFAULT_LANGUAGE = "de"
MAX_ACCEPTED = 20  # Accept-Language entries looked at; the rest of a long header is ignored

DE: dict[str, str] = {
    "title": "Kalender-Synchronisation",
    "intro": "So kommt der Praxiskalender auf Ihre Geräte. Sie melden sich überall mit Ihrem "
    "Praxis-Benutzernamen und Praxis-Passwort an.",
    "nav.own": "Meine Einstellungen",
    "nav.admin": "Verwaltung",
    "other_language": "English",
    "logged_in_as": "Angemeldet als {name}",
    "copy": "Kopieren",
    "copied": "Kopiert",
    "yes": "Ja",
    "no": "Nein",
    "login": "Benutzername (alle Programme)",
    "password_hint": "Passwort: Ihr Praxis-Passwort.",
    "qr.heading": "Auf dem Handy öffnen",
    "qr.text": "Scannen Sie den Code mit der Handykamera: Diese Seite öffnet sich dort, mit "
    "allen Werten und dem Profil für iPhone und iPad.",
    "qr.alt": "QR-Code dieser Seite",
    "qr.address": "Oder diese Adresse am Handy eintippen:",
    "loopback": "Diese Adresse gilt nur auf diesem Computer. Damit Handys den Server finden, "
    "trägt die Praxis-IT seine öffentliche Adresse ein (public_base_url).",
    "clients": "Einrichtung je Gerät",
    "ios": "iPhone / iPad",
    "ios.profile": "Profil herunterladen (.mobileconfig)",
    "ios.profile_file": "praxis-kalender.mobileconfig",
    "ios.profile_menu": "Einstellungen › Profil geladen",
    "ios.profile_hint": "Diese Seite in Safari auf dem iPhone oder iPad öffnen, das Profil laden "
    "(„Zulassen“), dann in {menu} auf „Installieren“ tippen; das Gerät fragt dabei nach Ihrem "
    "Passwort.",
    "ios.menu18": "Einstellungen › Apps › Kalender › Kalender-Accounts › Account hinzufügen › "
    "Andere › CalDAV-Account hinzufügen",
    "ios.menu17": "Einstellungen › Kalender › Accounts › Account hinzufügen › Andere › "
    "CalDAV-Account hinzufügen",
    "ios.manual": "Oder von Hand – iOS 18: {menu18}; iOS 17: {menu17}.",
    "ios.server": "Server",
    "android": "Android: DAVx⁵ (auch für die Google-Kalender-App)",
    "android.menu": "+ › Mit URL und Benutzername anmelden",
    "android.hint": "In DAVx⁵ (kostenlos bei F-Droid): {menu}.",
    "android.base_url": "Basis-URL",
    "macos": "Mac: Kalender (Accounttyp „Erweitert“)",
    "macos.menu": "Kalender › Account hinzufügen … › Anderer CalDAV-Account …",
    "macos.hint": "In der App Kalender: {menu}, dann Accounttyp „Erweitert“.",
    "macos.host": "Serveradresse",
    "macos.path": "Serverpfad",
    "macos.port": "Port",
    "macos.ssl": "SSL verwenden",
    "thunderbird": "Thunderbird",
    "thunderbird.menu": "Neuer Kalender … › Im Netzwerk",
    "thunderbird.hint": "Im Kalender: {menu}, dann diese Adresse.",
    "thunderbird.location": "Adresse",
    "outlook": "Outlook (CalDAV Synchronizer)",
    "outlook.menu": "CalDav Synchronizer › Synchronisationsprofile › + › Generisches Profil",
    "outlook.hint": "Nur im klassischen Outlook: {menu}, dann diese DAV URL (mit dem „/“ am Ende).",
    "outlook.url": "DAV URL",
    "settings": "Was Ihre Geräte zeigen",
    "pseudonymize": "Patientennamen pseudonymisieren",
    "pseudonymize.explain": "Termine zeigen statt des Namens nur ein Kürzel mit Patientennummer "
    "(z. B. „ErMu 4711“): je zwei Zeichen von Vor- und Nachname, aber nie ein ganzer Name "
    "(„Li Wu“ → „LW“). Namen im Betreff werden ersetzt; Notizen, Telefonnummer und Adressen "
    "bleiben in der Praxis, als Ort steht nur der Name des Praxisorts. Ein Wechsel lässt Ihre "
    "Geräte beim nächsten Abgleich jeden Termin neu laden.",
    "locked": "Von der Praxis festgelegt: strenger stellen können Sie es selbst, lockern nur die "
    "Praxisverwaltung.",
    "phone": "Telefonnummer im Termin",
    "phone.explain": "Die Telefonnummer der Patientin oder des Patienten steht in der "
    "Terminbeschreibung, damit Sie vom Handy aus anrufen können (nie bei "
    "pseudonymisierten Namen).",
    "direction": "Richtung",
    "direction.two-way": "In beide Richtungen",
    "direction.two-way.explain": "Was Sie am Gerät anlegen, verschieben oder löschen, wird in "
    "den Praxiskalender übernommen.",
    "direction.server-to-device": "Nur vom Server auf die Geräte",
    "direction.server-to-device.explain": "Ihre Geräte zeigen die Termine nur an; Änderungen "
    "am Gerät lehnt der Server ab.",
    "save": "Speichern",
    "saved": "Gespeichert.",
    "saved.pseudonymize.on": "Pseudonymisierung ist eingeschaltet: Ihre Geräte laden beim "
    "nächsten Abgleich jeden Termin neu und zeigen danach nur noch "
    "Kürzel wie „ErMu 4711“ – es bleibt kein Klarname auf dem Gerät.",
    "saved.pseudonymize.off": "Pseudonymisierung ist ausgeschaltet: Ihre Geräte laden beim "
    "nächsten Abgleich jeden Termin neu und zeigen danach wieder die "
    "vollen Patientennamen.",
    "devices": "Ihre Geräte",
    "devices.none": "Noch hat sich kein Gerät verbunden.",
    "devices.last_seen": "zuletzt synchronisiert",
    "family.ios": "iPhone/iPad",
    "family.macos": "Mac (Kalender)",
    "family.davx5": "Android (DAVx⁵)",
    "family.thunderbird": "Thunderbird",
    "family.outlook": "Outlook (CalDAV Synchronizer)",
    "family.evolution": "Evolution",
    "family.vdirsyncer": "vdirsyncer",
    "family.python": "Python (caldav)",
    "family.browser": "Webbrowser",
    "family.other": "anderes Programm",
    "admin.title": "Verwaltung: {practice}",
    "admin.people": "Behandelnde",
    "admin.name": "Name",
    "admin.login": "Benutzername",
    "admin.settings": "Einstellungen",
    "admin.devices": "Geräte (zuletzt synchronisiert)",
    "admin.access": "Zugang",
    "admin.pseudonymized": "pseudonymisiert",
    "admin.clear_names": "Klarnamen",
    "admin.with_phone": "mit Telefon",
    "admin.reset": "Alle Geräte sperren",
    "admin.reset.confirm": "Ja, neues Passwort setzen",
    "admin.reset.explain": "Setzt ein neues Zufallspasswort: Alle Geräte der Person verlieren "
    "sofort den Zugang, bis dort das neue Passwort eingetragen ist.",
    "admin.grants": "Freigaben",
    "admin.grants.none": "Keine Freigaben.",
    "admin.grant.line": "{grantee} sieht den Kalender von {owner}",
    "admin.grant.read": "lesen",
    "admin.grant.write": "lesen und ändern",
    "admin.grant.revoke": "Freigabe entziehen",
    "admin.grant.new": "Neue Freigabe",
    "admin.grant.choose": "– bitte wählen –",
    "admin.grant.missing": "Bitte wählen Sie aus, wessen Kalender wer sehen soll.",
    "admin.grant.owner": "Kalender von",
    "admin.grant.grantee": "für",
    "admin.grant.level": "Recht",
    "admin.grant.submit": "Freigeben",
    "admin.grant.done": "Freigabe gespeichert.",
    "admin.revoke.done": "Freigabe entzogen.",
    "admin.self": "Ihr eigenes Konto können Sie hier nicht sperren.",
    "admin.disable": "Anmeldung sperren",
    "admin.enable": "Anmeldung erlauben",
    "admin.disabled": "gesperrt",
    "admin.disable.done": "Anmeldung gesperrt: Weder Praxis- noch Geräte-Passwörter gelten mehr.",
    "admin.enable.done": "Anmeldung wieder erlaubt.",
    "admin.revoke_device.done": "Gerät gesperrt.",
    "admin.policy": "Datenschutz",
    "admin.policy.may_relax": "darf selbst lockern",
    "admin.policy.save": "Speichern",
    "admin.policy.done": "Datenschutz-Einstellungen gespeichert.",
    "admin.audit": "Zugriffe der Geräte (je Stunde)",
    "admin.add": "Neue Person",
    "admin.add.username": "Benutzername",
    "admin.add.display_name": "Anzeigename",
    "admin.add.email": "E-Mail (optional)",
    "admin.add.submit": "Anlegen (Passwort wird einmal angezeigt)",
    "admin.add.invalid": "Der Benutzername ist ungültig oder vergeben, oder die E-Mail-Adresse ist ungültig.",
    "password.title": "Neues Passwort für {name}",
    "password.once": "Das Passwort wird nur dieses eine Mal angezeigt. Geben Sie es der Person "
    "persönlich weiter; sie trägt es auf jedem Gerät neu ein.",
    "password.back": "Zurück zur Verwaltung",
    "error.csrf": "Das Formular ist abgelaufen oder ungültig. Bitte laden Sie die Seite neu.",
    "error.admin_only": "Diese Seite ist der Praxis-Verwaltung vorbehalten.",
    "error.not_found": "Diese Seite gibt es nicht.",
    "error.bad_request": "Die Eingabe ist ungültig.",
    "error.policy": "Diese Einstellung kann nur die Praxisverwaltung lockern.",
    "error.method": "Diese Anfrage ist hier nicht erlaubt.",
    "error.back": "Zurück",
    "apppw": "Geräte-Passwörter",
    "apppw.explain": "Geben Sie jedem Gerät ein eigenes Passwort statt Ihres Praxis-Passworts: "
    "Geht ein Handy verloren, sperren Sie hier nur dieses Gerät, alle anderen synchronisieren weiter. "
    "Ein Geräte-Passwort gilt nur für den Kalender, nie für diese Seite.",
    "apppw.none": "Noch keine Geräte-Passwörter.",
    "apppw.new": "Neues Gerät",
    "apppw.label": "Name des Geräts (z. B. iPhone Anna)",
    "apppw.create": "Passwort erstellen",
    "apppw.profile": "Profil mit eigenem Geräte-Passwort laden (iPhone, iPad, Mac)",
    "apppw.profile_hint": "Auf dem iPhone, iPad oder Mac selbst tippen: Das Profil enthält ein "
    "neues Geräte-Passwort nur für dieses Gerät, Sie müssen kein Passwort eintragen.",
    "apppw.family": "Programm",
    "apppw.first_used": "erste Nutzung",
    "apppw.last_used": "letzte Nutzung",
    "apppw.address": "letzte Adresse",
    "apppw.never": "noch nie",
    "apppw.revoke": "Sperren",
    "apppw.revoked": "Gerät „{label}“ gesperrt: Seine nächste Anfrage wird abgewiesen.",
    "apppw.title": "Geräte-Passwort für „{label}“",
    "apppw.once": "Das Passwort wird nur dieses eine Mal angezeigt. Tragen Sie es jetzt auf dem Gerät "
    "ein (statt Ihres Praxis-Passworts), mit Ihrem Benutzernamen.",
    "apppw.bad_label": "Bitte geben Sie dem Gerät einen Namen (höchstens 100 Zeichen).",
    "push.active": "Push aktiv",
    "push.explain": "Push aktiv: Das Gerät erfährt eine Änderung binnen Sekunden, ohne abzufragen.",
    "push.practice_login": "Ein Gerät mit dem Praxis-Passwort",
    "audit": "Zugriffe Ihrer Geräte (je Stunde)",
    "audit.none": "Noch keine Zugriffe aufgezeichnet.",
    "audit.hour": "Stunde",
    "audit.device": "Gerät",
    "audit.practice_login": "Praxis-Passwort",
    "audit.address": "Adresse",
    "audit.sync": "Abgleich",
    "audit.read": "Lesen",
    "audit.write": "Ändern",
    "audit.refused": "Abgewiesen",
    "audit.objects": "Termine geschrieben",
    "account": "Passwort und Abmelden",
    "account.current": "Aktuelles Praxis-Passwort",
    "account.new": "Neues Praxis-Passwort (mindestens 10 Zeichen)",
    "account.repeat": "Neues Passwort wiederholen",
    "account.change": "Passwort ändern",
    "account.changed": "Ihr Praxis-Passwort ist geändert. Geräte mit Geräte-Passwort synchronisieren weiter.",
    "account.wrong": "Das aktuelle Passwort stimmt nicht.",
    "account.mismatch": "Die neuen Passwörter stimmen nicht überein.",
    "account.weak": "Das neue Passwort ist zu kurz oder zu leicht zu erraten.",
    "account.logout": "Abmelden",
    "account.logged_out": "Sie sind abgemeldet. Schließen Sie das Browserfenster, damit der Browser "
    "Ihr Passwort vergisst.",
    "account.login_again": "Wieder anmelden",
}

EN: dict[str, str] = {
    "title": "Calendar sync",
    "intro": "How the practice calendar gets onto your devices. Everywhere you log in with "
    "your practice user name and practice password.",
    "nav.own": "My settings",
    "nav.admin": "Administration",
    "other_language": "Deutsch",
    "logged_in_as": "Logged in as {name}",
    "copy": "Copy",
    "copied": "Copied",
    "yes": "Yes",
    "no": "No",
    "login": "User name (all apps)",
    "password_hint": "Password: your practice password.",
    "qr.heading": "Open on your phone",
    "qr.text": "Scan the code with your phone's camera: this page opens there, with every "
    "value and the profile for iPhone and iPad.",
    "qr.alt": "QR code of this page",
    "qr.address": "Or type this address on the phone:",
    "loopback": "This address only works on this computer. For phones to find the server, "
    "the practice IT enters its public address (public_base_url).",
    "clients": "Setup per device",
    "ios": "iPhone / iPad",
    "ios.profile": "Download profile (.mobileconfig)",
    "ios.profile_file": "practice-calendar.mobileconfig",
    "ios.profile_menu": "Settings › Profile Downloaded",
    "ios.profile_hint": "Open this page in Safari on the iPhone or iPad, download the profile "
    "(“Allow”), then tap “Install” in {menu}; the device asks for your password.",
    "ios.menu18": "Settings › Apps › Calendar › Calendar Accounts › Add Account › Other › Add CalDAV Account",
    "ios.menu17": "Settings › Calendar › Accounts › Add Account › Other › Add CalDAV Account",
    "ios.manual": "Or by hand – iOS 18: {menu18}; iOS 17: {menu17}.",
    "ios.server": "Server",
    "android": "Android: DAVx⁵ (also for the Google Calendar app)",
    "android.menu": "+ › Login with URL and user name",
    "android.hint": "In DAVx⁵ (free on F-Droid): {menu}.",
    "android.base_url": "Base URL",
    "macos": "Mac: Calendar (account type “Advanced”)",
    "macos.menu": "Calendar › Add Account… › Other CalDAV Account…",
    "macos.hint": "In the Calendar app: {menu}, then account type “Advanced”.",
    "macos.host": "Server Address",
    "macos.path": "Server Path",
    "macos.port": "Port",
    "macos.ssl": "Use SSL",
    "thunderbird": "Thunderbird",
    "thunderbird.menu": "New Calendar… › On the Network",
    "thunderbird.hint": "In the calendar: {menu}, then this location.",
    "thunderbird.location": "Location",
    "outlook": "Outlook (CalDAV Synchronizer)",
    "outlook.menu": "CalDav Synchronizer › Synchronization Profiles › + › Generic CalDAV/CardDAV",
    "outlook.hint": "Classic Outlook only: {menu}, then this DAV URL (with the “/” at the end).",
    "outlook.url": "DAV URL",
    "settings": "What your devices show",
    "pseudonymize": "Pseudonymize patient names",
    "pseudonymize.explain": "Appointments show initials with the patient number (e.g. "
    "“ErMu 4711”) instead of the name: two characters of first and last name, but never a "
    "whole name (“Li Wu” → “LW”). Names in the subject are replaced; notes, phone numbers and "
    "addresses stay in the practice, the location shows only the practice location's name. "
    "A change makes your devices re-fetch every appointment on the next sync.",
    "locked": "Set by the practice: you can make it stricter yourself, only the practice admin "
    "can loosen it.",
    "phone": "Phone number in appointments",
    "phone.explain": "The patient's phone number is in the appointment description so you can "
    "call from your phone (never with pseudonymized names).",
    "direction": "Direction",
    "direction.two-way": "Both ways",
    "direction.two-way.explain": "What you create, move or delete on a device is written to "
    "the practice calendar.",
    "direction.server-to-device": "Server to devices only",
    "direction.server-to-device.explain": "Your devices only show the appointments; the server "
    "refuses changes made on a device.",
    "save": "Save",
    "saved": "Saved.",
    "saved.pseudonymize.on": "Pseudonymization is on: your devices re-fetch every appointment "
    "on the next sync and then show only initials like “ErMu 4711” – "
    "no clear name stays on the device.",
    "saved.pseudonymize.off": "Pseudonymization is off: your devices re-fetch every "
    "appointment on the next sync and then show full patient names "
    "again.",
    "devices": "Your devices",
    "devices.none": "No device has connected yet.",
    "devices.last_seen": "last sync",
    "family.ios": "iPhone/iPad",
    "family.macos": "Mac (Calendar)",
    "family.davx5": "Android (DAVx⁵)",
    "family.thunderbird": "Thunderbird",
    "family.outlook": "Outlook (CalDAV Synchronizer)",
    "family.evolution": "Evolution",
    "family.vdirsyncer": "vdirsyncer",
    "family.python": "Python (caldav)",
    "family.browser": "Web browser",
    "family.other": "other app",
    "admin.title": "Administration: {practice}",
    "admin.people": "Practitioners",
    "admin.name": "Name",
    "admin.login": "User name",
    "admin.settings": "Settings",
    "admin.devices": "Devices (last sync)",
    "admin.access": "Access",
    "admin.pseudonymized": "pseudonymized",
    "admin.clear_names": "clear names",
    "admin.with_phone": "with phone",
    "admin.reset": "Lock out all devices",
    "admin.reset.confirm": "Yes, set a new password",
    "admin.reset.explain": "Sets a new random password: every device of this person loses "
    "access at once, until the new password is entered there.",
    "admin.grants": "Delegations",
    "admin.grants.none": "No delegations.",
    "admin.grant.line": "{grantee} sees the calendar of {owner}",
    "admin.grant.read": "read",
    "admin.grant.write": "read and change",
    "admin.grant.revoke": "Revoke",
    "admin.grant.new": "New delegation",
    "admin.grant.choose": "– choose –",
    "admin.grant.missing": "Please choose whose calendar who is to see.",
    "admin.grant.owner": "Calendar of",
    "admin.grant.grantee": "for",
    "admin.grant.level": "Access",
    "admin.grant.submit": "Grant",
    "admin.grant.done": "Delegation saved.",
    "admin.revoke.done": "Delegation revoked.",
    "admin.self": "You cannot lock out your own account here.",
    "admin.disable": "Disable login",
    "admin.enable": "Enable login",
    "admin.disabled": "disabled",
    "admin.disable.done": "Login disabled: neither the practice password nor device passwords work.",
    "admin.enable.done": "Login enabled again.",
    "admin.revoke_device.done": "Device revoked.",
    "admin.policy": "Privacy",
    "admin.policy.may_relax": "may loosen it",
    "admin.policy.save": "Save",
    "admin.policy.done": "Privacy settings saved.",
    "admin.audit": "Access by devices (per hour)",
    "admin.add": "New person",
    "admin.add.username": "User name",
    "admin.add.display_name": "Display name",
    "admin.add.email": "E-mail (optional)",
    "admin.add.submit": "Create (the password is shown once)",
    "admin.add.invalid": "The user name is invalid or taken, or the e-mail address is invalid.",
    "password.title": "New password for {name}",
    "password.once": "The password is shown this once only. Hand it to the person directly; "
    "they enter it anew on every device.",
    "password.back": "Back to administration",
    "error.csrf": "The form has expired or is invalid. Please reload the page.",
    "error.admin_only": "This page is for the practice administration.",
    "error.not_found": "There is no such page.",
    "error.bad_request": "The input is invalid.",
    "error.policy": "Only the practice admin can loosen this setting.",
    "error.method": "This request is not allowed here.",
    "error.back": "Back",
    "apppw": "Device passwords",
    "apppw.explain": "Give every device its own password instead of your practice password: if a "
    "phone is lost, you revoke just that device here and all others keep syncing. A device password "
    "works for the calendar only, never for this page.",
    "apppw.none": "No device passwords yet.",
    "apppw.new": "New device",
    "apppw.label": "Name of the device (e.g. iPhone Anna)",
    "apppw.create": "Create password",
    "apppw.profile": "Download a profile with its own device password (iPhone, iPad, Mac)",
    "apppw.profile_hint": "Tap it on the iPhone, iPad or Mac itself: the profile holds a new "
    "device password for this device only, and you enter no password.",
    "apppw.family": "Program",
    "apppw.first_used": "first use",
    "apppw.last_used": "last use",
    "apppw.address": "last address",
    "apppw.never": "never",
    "apppw.revoke": "Revoke",
    "apppw.revoked": "Device “{label}” revoked: its next request is refused.",
    "apppw.title": "Device password for “{label}”",
    "apppw.once": "The password is shown this one time only. Enter it on the device now (instead of "
    "your practice password), with your user name.",
    "apppw.bad_label": "Please give the device a name (at most 100 characters).",
    "push.active": "Push active",
    "push.explain": "Push active: the device learns of a change within seconds, without polling.",
    "push.practice_login": "A device with the practice password",
    "audit": "Access by your devices (per hour)",
    "audit.none": "No access recorded yet.",
    "audit.hour": "Hour",
    "audit.device": "Device",
    "audit.practice_login": "Practice password",
    "audit.address": "Address",
    "audit.sync": "Sync",
    "audit.read": "Read",
    "audit.write": "Write",
    "audit.refused": "Refused",
    "audit.objects": "Appointments written",
    "account": "Password and logout",
    "account.current": "Current practice password",
    "account.new": "New practice password (at least 10 characters)",
    "account.repeat": "Repeat the new password",
    "account.change": "Change password",
    "account.changed": "Your practice password has been changed. Devices with a device password "
    "keep syncing.",
    "account.wrong": "The current password is not correct.",
    "account.mismatch": "The new passwords do not match.",
    "account.weak": "The new password is too short or too easy to guess.",
    "account.logout": "Log out",
    "account.logged_out": "You are logged out. Close the browser window so that the browser forgets "
    "your password.",
    "account.login_again": "Log in again",
}

LANGUAGES: dict[str, dict[str, str]] = {"de": DE, "en": EN}


def language_from_header(accept_language: str | None) -> str | None:
    """The first language of ours the browser accepts (RFC 9110 q-values), else None.

    `en-GB,en;q=0.9,de;q=0.8` is English; `fr, de;q=0.5` is German; `de;q=0, en` is English.
    """
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")[:MAX_ACCEPTED]):
        tag, *params = item.split(";")
        weights = [
            value for name, _, value in (p.partition("=") for p in params) if name.strip().lower() == "q"
        ]
        try:
            quality = float(weights[0]) if weights else 1.0
        except ValueError:
            continue
        primary = tag.strip().lower().split("-")[0]
        if quality > 0 and primary in LANGUAGES:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else None


def negotiate(chosen: str | None, remembered: str | None, accept_language: str | None) -> str:
    """The page's language: the switch just used, else the one remembered, else the browser's."""
    for candidate in (chosen, remembered):
        if candidate in LANGUAGES:
            return candidate
    return language_from_header(accept_language) or DEFAULT_LANGUAGE


def translator(language: str) -> Callable[..., str]:
    """`t(key, **fields)` for one language; a missing key shows itself (visible in tests)."""
    table = LANGUAGES[language]

    def t(key: str, **fields: object) -> str:
        text = table.get(key, key)
        return text.format(**fields) if fields else text

    return t
