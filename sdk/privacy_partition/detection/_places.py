"""Places the whole world knows: countries, continents and a few regions.

A country named in a prompt that ties nothing to a person is general
knowledge ("Compare the economies of Germany and Japan"); the relation
reader marks such a finding ``public`` so that a policy can keep it while
it replaces every other place. Names follow GeoNames' country and
continent names (CC BY 4.0, geonames.org) plus common short forms; matching
folds case, spaces and a leading "the".
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["is_public_place"]

_COUNTRIES: Final = (
    "Afghanistan|Aland Islands|Albania|Algeria|American Samoa|Andorra|Angola|Anguilla|"
    "Antarctica|Antigua and Barbuda|Argentina|Armenia|Aruba|Australia|Austria|Azerbaijan|"
    "Bahamas|Bahrain|Bangladesh|Barbados|Belarus|Belgium|Belize|Benin|Bermuda|Bhutan|"
    "Bolivia|Bosnia and Herzegovina|Botswana|Brazil|Brunei|Bulgaria|Burkina Faso|Burundi|"
    "Cabo Verde|Cape Verde|Cambodia|Cameroon|Canada|Cayman Islands|Central African Republic|"
    "Chad|Chile|China|Colombia|Comoros|Cook Islands|Costa Rica|Croatia|Cuba|Curacao|Cyprus|"
    "Czechia|Czech Republic|Democratic Republic of the Congo|Congo|Denmark|Djibouti|Dominica|"
    "Dominican Republic|Ecuador|Egypt|El Salvador|Equatorial Guinea|Eritrea|Estonia|"
    "Eswatini|Swaziland|Ethiopia|Falkland Islands|Faroe Islands|Fiji|Finland|France|"
    "French Guiana|French Polynesia|Gabon|Gambia|Georgia|Germany|Ghana|Gibraltar|Greece|"
    "Greenland|Grenada|Guadeloupe|Guam|Guatemala|Guernsey|Guinea|Guinea-Bissau|Guyana|"
    "Haiti|Honduras|Hong Kong|Hungary|Iceland|India|Indonesia|Iran|Iraq|Ireland|"
    "Isle of Man|Israel|Italy|Ivory Coast|Cote d'Ivoire|Côte d'Ivoire|Jamaica|Japan|Jersey|"
    "Jordan|Kazakhstan|Kenya|Kiribati|Kosovo|Kuwait|Kyrgyzstan|Laos|Latvia|Lebanon|Lesotho|"
    "Liberia|Libya|Liechtenstein|Lithuania|Luxembourg|Macao|Macau|Madagascar|Malawi|"
    "Malaysia|Maldives|Mali|Malta|Marshall Islands|Martinique|Mauritania|Mauritius|Mayotte|"
    "Mexico|Micronesia|Moldova|Monaco|Mongolia|Montenegro|Montserrat|Morocco|Mozambique|"
    "Myanmar|Burma|Namibia|Nauru|Nepal|Netherlands|Holland|New Caledonia|New Zealand|"
    "Nicaragua|Niger|Nigeria|Niue|North Korea|North Macedonia|Macedonia|Norway|Oman|"
    "Pakistan|Palau|Palestine|Palestinian Territory|Panama|Papua New Guinea|Paraguay|Peru|"
    "Philippines|Poland|Portugal|Puerto Rico|Qatar|Republic of the Congo|Reunion|Romania|"
    "Russia|Russian Federation|Rwanda|Saint Kitts and Nevis|Saint Lucia|"
    "Saint Vincent and the Grenadines|Samoa|San Marino|Sao Tome and Principe|Saudi Arabia|"
    "Senegal|Serbia|Seychelles|Sierra Leone|Singapore|Slovakia|Slovenia|Solomon Islands|"
    "Somalia|South Africa|South Korea|Korea|South Sudan|Spain|Sri Lanka|Sudan|Suriname|"
    "Sweden|Switzerland|Syria|Taiwan|Tajikistan|Tanzania|Thailand|Timor Leste|East Timor|"
    "Togo|Tonga|Trinidad and Tobago|Tunisia|Turkey|Türkiye|Turkmenistan|Tuvalu|Uganda|"
    "Ukraine|United Arab Emirates|UAE|United Kingdom|UK|U.K.|Great Britain|Britain|England|"
    "Scotland|Wales|Northern Ireland|United States|United States of America|USA|U.S.A.|US|"
    "U.S.|America|Uruguay|Uzbekistan|Vanuatu|Vatican|Vatican City|Venezuela|Vietnam|"
    "Viet Nam|Western Sahara|Yemen|Zambia|Zimbabwe"
)
_CONTINENTS: Final = (
    "Africa|Antarctica|Asia|Europe|North America|South America|Latin America|"
    "Central America|Oceania|Middle East|the Middle East|Southeast Asia|East Asia|"
    "the Caribbean|Caribbean|Scandinavia|the Balkans|Balkans|Eastern Europe|Western Europe"
)
_CHINESE: Final = (
    "中国|美国|日本|英国|法国|德国|俄罗斯|韩国|朝鲜|印度|加拿大|澳大利亚|意大利|西班牙|"
    "葡萄牙|巴西|墨西哥|新加坡|泰国|越南|马来西亚|印度尼西亚|菲律宾|新西兰|荷兰|瑞士|瑞典|"
    "挪威|丹麦|芬兰|波兰|乌克兰|土耳其|埃及|南非|阿根廷|沙特阿拉伯|以色列|伊朗|亚洲|欧洲|"
    "非洲|北美洲|南美洲|大洋洲|北美|南美"
)


def _fold(name: str) -> str:
    folded = re.sub(r"\s+", " ", name.strip()).casefold()
    return folded.removeprefix("the ")


_PUBLIC: Final = frozenset(
    _fold(name) for names in (_COUNTRIES, _CONTINENTS, _CHINESE) for name in names.split("|")
)


def is_public_place(value: str) -> bool:
    """Whether ``value`` names a country, a continent or a world region."""
    return _fold(value) in _PUBLIC
